package fbclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/featflags/fbclient/internal/backoff"
)

// Polling asks FeatBit's latest-all endpoint for the changes since the data the client holds
// (everything the first time), one request at a time: the next request is scheduled only
// after the previous one has ended. A success waits PollInterval; a server or network
// failure backs off as streaming does, honouring Retry-After; 401 and 403 stop polling for
// good (see the failure policy in sync.go).

// defaultPollTimeout bounds one polling request when Config.HTTPClient has no timeout of its
// own, so that a hung request cannot stop polling.
const defaultPollTimeout = time.Minute

// pollingSource is the HTTP data source. It knows the client only through the DataSink its
// Run is given.
type pollingSource struct {
	url    *url.URL     // <PollingURL>/api/public/sdk/server/latest-all, without a query
	secret string       // the env secret, sent in the Authorization header
	hc     *http.Client // Config.HTTPClient
	t      syncTimings
}

// Run polls until ctx ends or FeatBit rejects the credentials.
func (src *pollingSource) Run(ctx context.Context, sink DataSink) {
	p := &poller{pollingSource: src, sink: sink, log: sink.Logger(), backoff: src.t.newBackoff()}
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

// poller is one run of the polling source, used by the goroutine running Run only.
type poller struct {
	*pollingSource
	sink     DataSink
	log      *slog.Logger
	backoff  *backoff.Backoff
	failures int // consecutive failed polls
}

// poll makes one request, applies or reports its outcome, and returns how long to wait
// before the next one; stop is set when polling must end.
func (p *poller) poll(ctx context.Context) (wait time.Duration, stop bool) {
	f := Fetch{Timestamp: p.sink.Version()}
	p.sink.Started(f)
	status, header, body, err := p.get(ctx, f.Timestamp)
	if ctx.Err() != nil {
		return 0, true
	}
	switch {
	case err != nil: // policy F9
		return p.failed(withKind(syncNetwork, err), f, 0), false
	case status == http.StatusOK:
		ds, err := decodePoll(body)
		if err != nil { // policy F10
			// Most likely something between us and FeatBit answering for it; asking again
			// at once would not help.
			err = withKind(syncBadData, fmt.Errorf("fbclient: polling: the response is not a FeatBit data set: %w", err))
			p.sink.Failed(err, f)
			p.log.Warn("fbclient: polling: skipped a malformed response", "error", err, "start", preview(body))
			return p.t.betweenPolls, false
		}
		p.sink.Apply(ds, f)
		p.backoff.Reset()
		if p.failures > 0 {
			p.log.Info("fbclient: polling restored", "failures", p.failures)
			p.failures = 0
		}
		return p.t.betweenPolls, false
	case status == http.StatusUnauthorized || status == http.StatusForbidden: // policy F3
		p.sink.Stop(withKind(syncRejected, fmt.Errorf("%w: FeatBit answered HTTP %d to the polling request: the env secret is missing, malformed or not accepted", ErrInitializationFailed, status)))
		return 0, true
	case status == http.StatusTooManyRequests || status >= 500: // policy F9
		err := withKind(syncStatus, fmt.Errorf("fbclient: polling: HTTP %d", status))
		return p.failed(err, f, backoff.RetryAfter(header, p.t.now(), backoff.MaxRetryAfter)), false
	default: // policy F10
		err := withKind(syncStatus, fmt.Errorf("fbclient: polling: HTTP %d", status))
		p.sink.Failed(err, f)
		p.log.Warn("fbclient: polling request refused; trying again at the next interval", "error", err, "retryIn", p.t.betweenPolls)
		return p.t.betweenPolls, false
	}
}

// failed reports a failure that may pass and returns the backoff delay, at least retryAfter.
func (p *poller) failed(err error, f Fetch, retryAfter time.Duration) time.Duration {
	p.sink.Failed(err, f)
	p.failures++
	delay := max(p.backoff.Next(), retryAfter)
	p.log.Warn("fbclient: polling failed; retrying", "error", err, "retryIn", delay.Round(time.Millisecond), "failures", p.failures)
	return delay
}

// get sends one latest-all request. For a status other than 200 the body is discarded.
// Errors never contain the secret.
func (p *poller) get(ctx context.Context, ts int64) (status int, header http.Header, body []byte, err error) {
	red := &redactor{secret: p.secret}
	if p.hc.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.t.pollTimeout)
		defer cancel()
	}
	u := *p.url
	u.RawQuery = "timestamp=" + strconv.FormatInt(ts, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, nil, red.errorf("fbclient: polling", err)
	}
	req.Header.Set("Authorization", p.secret)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
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
// changed since the timestamp: that is an empty patch (nil), a successful sync.
func decodePoll(body []byte) (*DataSet, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	return ParseDataSet(body)
}
