package main

import (
	"context"
	"errors"
)

func runKannel(ctx context.Context, o *options) (*Result, error)     { return nil, errors.New("todo") }
func runSweep(ctx context.Context, o *options) (*SweepResult, error) { return nil, errors.New("todo") }
