package fbclient

import (
	"context"
	"time"
)

// Placeholders for the parts under construction: streaming and polling sync, and the
// insight-event sender.

type idleSync struct{}

func (idleSync) run(ctx context.Context) { <-ctx.Done() }

func (c *Client) newStreaming() synchronizer { return idleSync{} }
func (c *Client) newPolling() synchronizer   { return idleSync{} }

type eventSender struct{}

func (*eventSender) add(*record, time.Time) {}

func (c *Client) newEventSender() *eventSender { return nil }

func (c *Client) closeEvents(deadline time.Time) { c.events.close() }
