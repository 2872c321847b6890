package verify

import (
	"context"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
)

// walkPipelined is s.Walk (entries from to to) with the reading in another goroutine, handing
// entries over in batches, so reading the store and hashing run on two
// cores. fn may stop the walk by returning an error.
func walkPipelined(ctx context.Context, s store.Store, node string, from, to int64, fn func(*chain.Entry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const size = 512
	ch := make(chan []chain.Entry, 4)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		batch := make([]chain.Entry, 0, size)
		send := func() error {
			select {
			case ch <- batch:
				batch = make([]chain.Entry, 0, size)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := s.Walk(ctx, node, from, to, func(e *chain.Entry) error {
			batch = append(batch, *e)
			if len(batch) == size {
				return send()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = send()
		}
		errc <- err
	}()
	var fnErr error
	for batch := range ch {
		if fnErr != nil {
			continue // drain until the reader sees the cancellation
		}
		for i := range batch {
			if fnErr = fn(&batch[i]); fnErr != nil {
				cancel()
				break
			}
		}
	}
	werr := <-errc
	if fnErr != nil {
		return fnErr
	}
	return werr
}
