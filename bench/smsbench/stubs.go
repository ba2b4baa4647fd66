package main

import (
	"context"
	"errors"
)

func runSweep(ctx context.Context, o *options) (*SweepResult, error) { return nil, errors.New("todo") }
