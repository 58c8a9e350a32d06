// Package openfeature is an OpenFeature provider for fbclient: it lets code written against
// the OpenFeature Go SDK (github.com/open-feature/go-sdk) evaluate FeatBit flags with an
// fbclient.Client.
//
//	client, err := fbclient.New(fbclient.Config{EnvSecret: secret, StreamingURL: url})
//	if err != nil {
//		log.Fatal(err)
//	}
//	err = of.SetProviderWithContextAndWait(ctx, openfeature.NewProvider(client))
//	...
//	flags := of.NewDefaultClient()
//	on, _ := flags.BooleanValue(ctx, "new-checkout", false, of.NewEvaluationContext(userID, nil))
//
// The README of this module maps every OpenFeature concept to FeatBit's: evaluation context,
// reasons, error codes, events and tracking.
package openfeature

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/featflags/fbclient"
	of "github.com/open-feature/go-sdk/openfeature"
)

// The OpenFeature provider interfaces that Provider implements.
var _ interface {
	of.FeatureProvider
	of.ContextAwareStateHandler
	of.EventHandler
	of.Tracker
} = (*Provider)(nil)

// ProviderName is the provider's name in its Metadata and events.
const ProviderName = "FeatBit"

// eventBuffer is how many provider events may wait for the OpenFeature SDK to take them.
const eventBuffer = 16

// Provider is an OpenFeature provider backed by an fbclient.Client. It implements
// of.FeatureProvider, of.ContextAwareStateHandler (and so of.StateHandler), of.EventHandler
// and of.Tracker. Create it with NewProvider and register it with the OpenFeature API; the
// API initialises and shuts it down. It is safe for concurrent use.
type Provider struct {
	client   *fbclient.Client
	keepOpen bool
	events   chan of.Event
	done     chan struct{} // closed by Shutdown: nothing more is sent on events

	mu    sync.Mutex
	phase phase
	early fbclient.State // the last state the client reported while phase was phaseNew
	off   func()         // unregisters the client listener; nil until Init
}

// phase is what the provider last told the OpenFeature SDK about its state.
type phase uint8

const (
	phaseNew      phase = iota // Init has not returned yet
	phaseReady                 // READY
	phaseStale                 // STALE: the client lost FeatBit and serves its last data
	phaseError                 // ERROR: Init failed or the client stopped syncing
	phaseFatal                 // ERROR with PROVIDER_FATAL: FeatBit rejected the secret at Init
	phaseShutdown              // Shutdown was called
)

// Option configures a Provider.
type Option func(*Provider)

// KeepClientOpen makes Shutdown leave the client open, for a client the application also uses
// directly and closes itself. By default Shutdown closes the client.
func KeepClientOpen() Option {
	return func(p *Provider) { p.keepOpen = true }
}

// NewProvider returns a provider that evaluates flags with client. The provider starts
// nothing until the OpenFeature API initialises it.
func NewProvider(client *fbclient.Client, opts ...Option) *Provider {
	p := &Provider{client: client, events: make(chan of.Event, eventBuffer), done: make(chan struct{})}
	for _, opt := range opts {
		opt(p)
	}
	return p
}

// Metadata returns the provider's name, ProviderName.
func (p *Provider) Metadata() of.Metadata { return of.Metadata{Name: ProviderName} }

// Hooks returns no hooks: the provider has none of its own. The client's Config.Hooks run
// inside every evaluation, with the context.Context given to the evaluation: after
// OpenFeature's before hooks, before its after, error and finally hooks.
func (p *Provider) Hooks() []of.Hook { return nil }

// EventChannel returns the channel of provider events, which the OpenFeature SDK reads.
func (p *Provider) EventChannel() <-chan of.Event { return p.events }

// Init is InitWithContext without a deadline.
func (p *Provider) Init(evalCtx of.EvaluationContext) error {
	return p.InitWithContext(context.Background(), evalCtx)
}

// InitWithContext waits until the client has its first data set or ctx ends, and returns nil
// when it is ready: the OpenFeature SDK then reports READY. If FeatBit rejected the env
// secret (or the client is closed), it returns an *of.ProviderInitError with PROVIDER_FATAL;
// if ctx ends first, ctx's error, and the SDK reports ERROR until the client gets its data,
// when the provider emits READY. The evaluation context is not used: FeatBit evaluates
// every flag locally for the context of each evaluation.
func (p *Provider) InitWithContext(ctx context.Context, _ of.EvaluationContext) error {
	p.mu.Lock()
	if p.phase == phaseShutdown {
		p.mu.Unlock()
		return &of.ProviderInitError{ErrorCode: of.ProviderFatalCode, Message: "the provider is shut down"}
	}
	if p.off == nil {
		p.off = p.client.OnEvents(clientEvents, p.onClientEvent, fbclient.ListenerName("openfeature provider"))
	}
	p.mu.Unlock()

	err := p.client.WaitForInitialization(ctx)

	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.phase == phaseShutdown:
		return &of.ProviderInitError{ErrorCode: of.ProviderFatalCode, Message: "the provider is shut down"}
	case err == nil, p.phase == phaseNew && p.early == fbclient.StateReady && ctx.Err() != nil:
		// The second case: ctx ended as the client became ready, and the listener, which
		// leaves the client's events to Init until Init returns, has already had the event.
		if p.phase == phaseNew || p.phase == phaseError {
			p.phase = phaseReady
		}
		return nil
	case errors.Is(err, fbclient.ErrInitializationFailed), errors.Is(err, fbclient.ErrClosed):
		p.phase = phaseFatal
		return &of.ProviderInitError{ErrorCode: of.ProviderFatalCode, Message: err.Error()}
	default:
		p.phase = phaseError
		return err
	}
}

// Shutdown is ShutdownWithContext without a deadline.
func (p *Provider) Shutdown() { _ = p.ShutdownWithContext(context.Background()) }

// ShutdownWithContext stops the provider's events and closes the client (unless
// KeepClientOpen), which sends the insight events it still holds. If ctx ends before Close
// returns, it returns ctx's error and Close goes on in the background, returning within the
// client's Config.CloseTimeout. Calling it again does nothing. A provider that is shut down
// cannot be initialised again: create a new client and provider.
func (p *Provider) ShutdownWithContext(ctx context.Context) error {
	p.mu.Lock()
	if p.phase == phaseShutdown {
		p.mu.Unlock()
		return nil
	}
	p.phase = phaseShutdown
	off := p.off
	p.off = nil
	close(p.done)
	p.mu.Unlock()
	if off != nil {
		off()
	}
	if p.keepOpen {
		return nil
	}
	if ctx.Done() == nil {
		return p.client.Close()
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = p.client.Close()
	}()
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("openfeature: closing the fbclient client: %w", ctx.Err())
	}
}

// Track records a FeatBit custom metric for the context's user, with the tracking event's
// name and value (fbclient.Client.TrackMetric). The details' attributes are not sent: FeatBit
// metrics have none. A context without a targeting key, or a value TrackMetric rejects
// (NaN, infinite, beyond float32), records nothing: OpenFeature's Track has no error to
// return.
func (p *Provider) Track(ctx context.Context, eventName string, evalCtx of.EvaluationContext, details of.TrackingEventDetails) {
	flat := of.FlattenedContext(evalCtx.Attributes())
	if k := evalCtx.TargetingKey(); k != "" {
		flat[of.TargetingKey] = k
	}
	u, rerr := userOf(flat)
	if rerr != nil {
		return
	}
	_ = p.client.TrackMetric(u, eventName, details.Value())
}

// clientEvents are the client events the provider follows. Every listener also receives
// fbclient.EventMissed in the place of events its queue had no room for.
var clientEvents = []fbclient.EventType{fbclient.EventStatusChanged, fbclient.EventFlagChanged}

// onClientEvent turns the client's events into provider events. It runs on the provider's
// client listener, one event at a time, in the order the client emitted them.
func (p *Provider) onClientEvent(e fbclient.Event) {
	switch e.Type {
	case fbclient.EventStatusChanged:
		p.onStatus(e.StatusChange.Status.State, e.StatusChange.Status.Err)
	case fbclient.EventFlagChanged:
		p.onFlagsChanged(e.Message, e.FlagKeys)
	case fbclient.EventMissed:
		// Status changes and flag changes may be among the missed events: catch up with the
		// current status, and report a change of unknown flags.
		st := p.client.Status()
		p.onStatus(st.State, st.Err)
		p.onFlagsChanged("missed flag changes; any flag may have changed", nil)
	}
}

// onFlagsChanged emits CONFIGURATION_CHANGED once Init has returned.
func (p *Provider) onFlagsChanged(msg string, keys []string) {
	p.mu.Lock()
	ph := p.phase
	p.mu.Unlock()
	if ph == phaseReady || ph == phaseStale || ph == phaseError {
		p.emit(of.ProviderConfigChange, of.ProviderEventDetails{Message: msg, FlagChanges: keys})
	}
}

// onStatus moves the provider to the phase that goes with the client's state and emits the
// event that reports the move. Before Init returns, Init reports; after Shutdown, nothing is
// reported.
func (p *Provider) onStatus(s fbclient.State, err error) {
	p.mu.Lock()
	from := p.phase
	var to phase
	var t of.EventType
	var d of.ProviderEventDetails
	switch s {
	case fbclient.StateReady:
		to, t, d = phaseReady, of.ProviderReady, of.ProviderEventDetails{Message: "FeatBit data is up to date"}
	case fbclient.StateStale:
		to, t, d = phaseStale, of.ProviderStale, of.ProviderEventDetails{Message: "lost FeatBit; serving the last data received"}
	case fbclient.StateFailed, fbclient.StateClosed:
		to, t, d = phaseError, of.ProviderError, of.ProviderEventDetails{ErrorCode: of.GeneralCode, Message: "the client stopped syncing for good; serving the last data received"}
	default:
		p.mu.Unlock()
		return
	}
	if err != nil {
		d.Message += ": " + err.Error()
	}
	if from == phaseNew {
		p.early = s
	}
	switch {
	case from == phaseNew, from == phaseShutdown, from == phaseFatal, from == to:
		p.mu.Unlock()
		return
	case to == phaseStale && from != phaseReady:
		p.mu.Unlock()
		return
	case from == phaseError && to != phaseReady:
		p.mu.Unlock()
		return
	}
	p.phase = to
	p.mu.Unlock()
	p.emit(t, d)
}

// emit sends a provider event unless the provider is shut down.
func (p *Provider) emit(t of.EventType, d of.ProviderEventDetails) {
	select {
	case p.events <- of.Event{ProviderName: ProviderName, EventType: t, ProviderEventDetails: d}:
	case <-p.done:
	}
}
