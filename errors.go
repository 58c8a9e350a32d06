package fbclient

import (
	"errors"
	"fmt"
)

// The package's errors. Match them with errors.Is: every error the SDK returns or reports
// wraps one of them, with details after a colon.
var (
	// ErrInvalidConfig is wrapped by every error New returns for a bad Config.
	ErrInvalidConfig = errors.New("fbclient: invalid config")
	// ErrClientNotReady: no data set has been received yet.
	ErrClientNotReady = errors.New("fbclient: evaluation called before the client is initialized")
	// ErrFlagNotFound: the flag does not exist. An archived flag's error, ErrFlagArchived,
	// matches it too.
	ErrFlagNotFound = errors.New("fbclient: feature flag not found")
	// ErrFlagArchived: the flag is archived (ReasonFlagArchived). It wraps ErrFlagNotFound,
	// so code that treats a missing flag also treats an archived one.
	ErrFlagArchived = fmt.Errorf("%w: the flag is archived", ErrFlagNotFound)
	// ErrInvalidUser: the user's key is blank.
	ErrInvalidUser = errors.New("fbclient: invalid user")
	// ErrWrongType: the served value does not convert to the requested type. For
	// JSONVariation it wraps the decoding error as well.
	ErrWrongType = errors.New("fbclient: flag type doesn't match the request")
	// ErrEvaluation: the flag's definition cannot be evaluated.
	ErrEvaluation = errors.New("fbclient: evaluation failed")
	// ErrInitializationFailed: FeatBit rejected the credentials, or a Config.DataSource
	// stopped for good (DataSink.Stop); the client will not initialize.
	ErrInitializationFailed = errors.New("fbclient: initialization failed")
	// ErrClosed: the client has been closed.
	ErrClosed = errors.New("fbclient: client closed")

	// ErrInvalidEvent: the event name given to Track or TrackMetric is empty or blank.
	ErrInvalidEvent = errors.New("fbclient: invalid event name")
	// ErrInvalidMetricValue: the value given to TrackMetric is NaN, infinite, or beyond the
	// range of the 32-bit float FeatBit stores it in (FeatBit would reject the whole batch).
	ErrInvalidMetricValue = errors.New("fbclient: invalid metric value")
	// ErrEventsUndelivered: Close gave up insight events it still held, because
	// Config.CloseTimeout ran out or the events endpoint failed during Close. The error says
	// how many; they are also counted in DroppedEvents.
	ErrEventsUndelivered = errors.New("fbclient: insight events not delivered")
)

// wrapEvalError returns an ErrEvaluation with a description, built once at compile time so
// evaluation never allocates for it.
func wrapEvalError(msg string) error { return fmt.Errorf("%w: %s", ErrEvaluation, msg) }
