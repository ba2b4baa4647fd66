package broker

import "errors"

// ErrBadTopic is returned by Start for a topic with an empty name or fewer
// than one partition.
var ErrBadTopic = errors.New("topic needs a name and at least one partition")
