package fbclient

import "context"

// Placeholder until streaming.go and polling.go land: a synchronizer that does nothing.

type idleSync struct{}

func (idleSync) run(ctx context.Context) { <-ctx.Done() }

func (c *Client) newStreaming() synchronizer { return idleSync{} }
func (c *Client) newPolling() synchronizer   { return idleSync{} }
