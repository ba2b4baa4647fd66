package ingest

import "errors"

// Configuration errors returned by New.
var (
	ErrNoBrokers = errors.New("ingest: no brokers")
	ErrNoGroup   = errors.New("ingest: no consumer group id")
	ErrNoTopics  = errors.New("ingest: no topics")
	ErrNoDLQ     = errors.New("ingest: no dead-letter topic")
	ErrNoHandler = errors.New("ingest: no handler")
	ErrDLQLoop   = errors.New("ingest: the dead-letter topic is also consumed")
)
