package fbclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/featflags/fbclient/internal/backoff"
	"github.com/featflags/fbclient/internal/wire"
)

// Polling asks FeatBit's latest-all endpoint for the changes since the data the client holds
// (everything the first time), one request at a time: the next request is scheduled only
// after the previous one has ended. A success waits PollInterval; a server
// or network failure backs off as streaming does, honouring Retry-After; 401 and 403 stop
// polling for good.

// polling is the HTTP synchronizer.
type polling struct {
	c       *Client
	t       syncTimings
	backoff *backoff.Backoff

	failures int // consecutive failed polls; used by the run goroutine only
}

func (c *Client) newPolling() synchronizer {
	t := c.syncTimings()
	if t.idle {
		return idleSync{}
	}
	return &polling{c: c, t: t, backoff: backoff.New(t.backoffFirst, t.backoffMax, t.backoffReset, t.rand)}
}

func (p *polling) run(ctx context.Context) {
	for {
		wait, stop := p.poll(ctx)
		if stop || ctx.Err() != nil {
			return
		}
		if !p.t.sleep(ctx, wait) {
			return
		}
	}
}

// poll makes one request, applies or reports its outcome, and returns how long to wait
// before the next one; stop is set when polling must end.
func (p *polling) poll(ctx context.Context) (wait time.Duration, stop bool) {
	c := p.c
	f := Fetch{Mode: modePolling, Timestamp: c.dataVersion()}
	c.fetchStarted(f)
	status, header, body, err := p.get(ctx, f.Timestamp)
	if ctx.Err() != nil {
		return 0, true
	}
	switch {
	case err != nil:
		return p.failed(err, f, 0), false
	case status == http.StatusOK:
		ds, err := decodePoll(body)
		if err != nil {
			// Most likely something between us and FeatBit answering for it; asking again
			// at once would not help.
			err = fmt.Errorf("fbclient: polling: the response is not a FeatBit data set: %w", err)
			c.fetchFailed(err, f)
			c.log.Warn("fbclient: polling: skipped a malformed response", "error", err, "start", preview(body))
			return p.t.pollInterval, false
		}
		c.commit(ds, f)
		p.backoff.Reset()
		if p.failures > 0 {
			c.log.Info("fbclient: polling restored", "failures", p.failures)
			p.failures = 0
		}
		return p.t.pollInterval, false
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		err := fmt.Errorf("%w: FeatBit answered HTTP %d to the polling request: the env secret is missing, malformed or not accepted", ErrInitializationFailed, status)
		c.fetchFailed(err, f)
		c.failPermanently(err)
		return 0, true
	case status == http.StatusTooManyRequests || status >= 500:
		err := fmt.Errorf("fbclient: polling: HTTP %d", status)
		return p.failed(err, f, backoff.RetryAfter(header, p.t.now(), p.t.maxRetryAfter)), false
	default:
		// Another client error will not go away by asking faster.
		err := fmt.Errorf("fbclient: polling: HTTP %d", status)
		c.fetchFailed(err, f)
		c.log.Warn("fbclient: polling request refused; trying again at the next interval", "error", err, "retryIn", p.t.pollInterval)
		return p.t.pollInterval, false
	}
}

// failed reports a failure that may pass and returns the backoff delay, at least retryAfter.
func (p *polling) failed(err error, f Fetch, retryAfter time.Duration) time.Duration {
	p.c.fetchFailed(err, f)
	p.failures++
	delay := max(p.backoff.Next(), retryAfter)
	p.c.log.Warn("fbclient: polling failed; retrying", "error", err, "retryIn", delay.Round(time.Millisecond), "failures", p.failures)
	return delay
}

// get sends one latest-all request. For a status other than 200 the body is discarded.
// Errors never contain the secret.
func (p *polling) get(ctx context.Context, ts int64) (status int, header http.Header, body []byte, err error) {
	cfg := p.c.cfg
	red := &redactor{secret: cfg.EnvSecret}
	if cfg.HTTPClient.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.t.pollTimeout)
		defer cancel()
	}
	u := *cfg.pollingURL
	u.RawQuery = "timestamp=" + strconv.FormatInt(ts, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, nil, red.errorf("fbclient: polling", err)
	}
	req.Header.Set("Authorization", cfg.EnvSecret)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, nil, red.errorf("fbclient: polling", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, resp.Header, nil, nil
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, p.t.readLimit+1))
	if err != nil {
		return 0, nil, nil, red.errorf("fbclient: polling: reading the response", err)
	}
	if int64(len(body)) > p.t.readLimit {
		return 0, nil, nil, fmt.Errorf("fbclient: polling: the response exceeds the read limit of %d bytes", p.t.readLimit)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// decodePoll decodes a latest-all response. FeatBit answers an empty body when nothing
// changed since the timestamp: that is an empty patch, a successful sync.
func decodePoll(body []byte) (*wire.DataSync, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return &wire.DataSync{EventType: wire.EventPatch}, nil
	}
	return wire.DecodeDataSet(body)
}
