package fbclient

import (
	"context"
	"log/slog"
	"time"
)

// logHandler is the handler behind the SDK's logger. It passes records to the configured
// handler (none by default) and feeds the same records to the EventLog... listeners.
type logHandler struct {
	next      slog.Handler // nil: no configured logger
	listeners *listeners
	attrs     []slog.Attr // from WithAttrs, for the listener copy
	group     string      // group prefix from WithGroup, for the listener copy
}

func newLogger(cfg *slog.Logger, ls *listeners) *slog.Logger {
	h := &logHandler{listeners: ls}
	if cfg != nil {
		h.next = cfg.Handler()
	}
	return slog.New(h)
}

// eventTypeOf maps a level to its log event type.
func eventTypeOf(l slog.Level) EventType {
	switch {
	case l >= LevelCritical:
		return EventLogCritical
	case l >= slog.LevelError:
		return EventLogError
	case l >= slog.LevelWarn:
		return EventLogWarning
	case l >= slog.LevelInfo:
		return EventLogInfo
	}
	return EventLogDebug
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.listeners.has(eventTypeOf(l)) || (h.next != nil && h.next.Enabled(ctx, l))
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	t := eventTypeOf(r.Level)
	if h.listeners.has(t) {
		attrs := make([]slog.Attr, 0, len(h.attrs)+r.NumAttrs())
		attrs = append(attrs, h.attrs...)
		var recErr error
		r.Attrs(func(a slog.Attr) bool {
			if e, ok := a.Value.Any().(error); ok && recErr == nil {
				recErr = e
			}
			if h.group != "" {
				a.Key = h.group + "." + a.Key
			}
			attrs = append(attrs, a)
			return true
		})
		h.listeners.emit(Event{Type: t, Time: r.Time, Message: r.Message, Log: &LogRecord{Level: r.Level, Attrs: attrs}, Err: recErr})
	}
	return err
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	if h.next != nil {
		n.next = h.next.WithAttrs(attrs)
	}
	n.attrs = append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)
	if h.group != "" {
		for i := len(h.attrs); i < len(n.attrs); i++ {
			n.attrs[i].Key = h.group + "." + n.attrs[i].Key
		}
	}
	return &n
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	if h.next != nil {
		n.next = h.next.WithGroup(name)
	}
	if h.group != "" {
		n.group = h.group + "." + name
	} else {
		n.group = name
	}
	return &n
}

// logLimit spaces out one kind of log record: the first is let through at once, later ones at
// most once per every, each covering the occurrences held back since the last. Its owner
// serializes the calls.
type logLimit struct {
	every   time.Duration
	logged  time.Time // when the last record was let through; zero: never
	pending uint64    // occurrences not logged yet
}

// add counts n occurrences and reports whether to log now, with the count to log: these n
// and those held back since the last record.
func (l *logLimit) add(n uint64, now time.Time) (uint64, bool) {
	l.pending += n
	if !l.logged.IsZero() && now.Sub(l.logged) < l.every {
		return 0, false
	}
	n, l.pending, l.logged = l.pending, 0, now
	return n, true
}

// allow counts one occurrence and reports whether to log it.
func (l *logLimit) allow(now time.Time) bool {
	_, ok := l.add(1, now)
	return ok
}
