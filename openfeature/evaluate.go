package openfeature

import (
	"context"
	"errors"

	"github.com/featflags/fbclient"
	of "github.com/open-feature/go-sdk/openfeature"
)

// Keys of the flag metadata of every resolution.
const (
	// MetadataReason is FeatBit's own reason, such as "rule match" or "flag not found"
	// (fbclient.Reason's string).
	MetadataReason = "featbitReason"
	// MetadataInExperiment is FeatBit's sendToExperiment: whether the evaluation counts for
	// an experiment (a bool).
	MetadataInExperiment = "inExperiment"
)

// BooleanEvaluation evaluates a flag as a bool, as fbclient.Client.BoolVariationDetail does.
// Like every evaluation of the provider, it evaluates with the client bound to ctx
// (fbclient.Client.WithContext), so the client's Config.Hooks see ctx.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, defaultValue bool, flat of.FlattenedContext) of.BoolResolutionDetail {
	u, rerr := userOf(flat)
	if rerr != nil {
		return of.BoolResolutionDetail{Value: defaultValue, ProviderResolutionDetail: failed(*rerr)}
	}
	v, d := p.client.WithContext(ctx).BoolVariationDetail(flag, u, defaultValue)
	return of.BoolResolutionDetail{Value: v, ProviderResolutionDetail: resolution(d)}
}

// StringEvaluation evaluates a flag as a string, as fbclient.Client.VariationDetail does:
// the served value as FeatBit stores it, whatever the flag's type.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, defaultValue string, flat of.FlattenedContext) of.StringResolutionDetail {
	u, rerr := userOf(flat)
	if rerr != nil {
		return of.StringResolutionDetail{Value: defaultValue, ProviderResolutionDetail: failed(*rerr)}
	}
	d := p.client.WithContext(ctx).VariationDetail(flag, u, defaultValue)
	return of.StringResolutionDetail{Value: d.Value, ProviderResolutionDetail: resolution(d)}
}

// FloatEvaluation evaluates a flag as a float64, as fbclient.Client.Float64VariationDetail
// does.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, defaultValue float64, flat of.FlattenedContext) of.FloatResolutionDetail {
	u, rerr := userOf(flat)
	if rerr != nil {
		return of.FloatResolutionDetail{Value: defaultValue, ProviderResolutionDetail: failed(*rerr)}
	}
	v, d := p.client.WithContext(ctx).Float64VariationDetail(flag, u, defaultValue)
	return of.FloatResolutionDetail{Value: v, ProviderResolutionDetail: resolution(d)}
}

// IntEvaluation evaluates a flag as an int64, as fbclient.Client.IntVariationDetail does: a
// whole number that fits an int, else TYPE_MISMATCH.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, defaultValue int64, flat of.FlattenedContext) of.IntResolutionDetail {
	u, rerr := userOf(flat)
	if rerr != nil {
		return of.IntResolutionDetail{Value: defaultValue, ProviderResolutionDetail: failed(*rerr)}
	}
	v, d := p.client.WithContext(ctx).IntVariationDetail(flag, u, int(defaultValue))
	if d.Err != nil {
		// The default may not fit an int on a 32-bit platform: return it as given.
		return of.IntResolutionDetail{Value: defaultValue, ProviderResolutionDetail: resolution(d)}
	}
	return of.IntResolutionDetail{Value: int64(v), ProviderResolutionDetail: resolution(d)}
}

// ObjectEvaluation evaluates a flag as a JSON value, as fbclient.JSONVariationDetail[any]
// does: the served value decoded with encoding/json into map[string]any, []any, string,
// float64 or bool. A value that is not JSON is TYPE_MISMATCH.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, defaultValue any, flat of.FlattenedContext) of.InterfaceResolutionDetail {
	u, rerr := userOf(flat)
	if rerr != nil {
		return of.InterfaceResolutionDetail{Value: defaultValue, ProviderResolutionDetail: failed(*rerr)}
	}
	v, d := fbclient.JSONVariationDetail(p.client.WithContext(ctx), flag, u, defaultValue)
	return of.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: resolution(d)}
}

// failed is the resolution of an evaluation the provider refused before asking the client.
func failed(err of.ResolutionError) of.ProviderResolutionDetail {
	return of.ProviderResolutionDetail{ResolutionError: err, Reason: of.ErrorReason, FlagMetadata: of.FlagMetadata{}}
}

// resolution maps an evaluation's detail to OpenFeature's: the variation id as the variant,
// the reason (reasonOf), and on fallback the error code (resolutionError).
func resolution(d fbclient.EvalDetail) of.ProviderResolutionDetail {
	r := of.ProviderResolutionDetail{
		Reason:       reasonOf(d),
		Variant:      d.VariationID,
		FlagMetadata: of.FlagMetadata{MetadataReason: d.Reason.String(), MetadataInExperiment: d.InExperiment},
	}
	if d.Err != nil {
		r.ResolutionError = resolutionError(d.Err)
	}
	return r
}

// reasonOf returns the OpenFeature reason for an evaluation's detail (the table is in the
// README): DISABLED for a flag that is off, SPLIT for a variation chosen by a percentage
// rollout, TARGETING_MATCH for an individual target or a rule that serves one variation,
// DEFAULT for a default rule that serves one variation, ERROR for a fallback.
func reasonOf(d fbclient.EvalDetail) of.Reason {
	if d.Err != nil || d.Reason.Fallback() {
		return of.ErrorReason
	}
	switch {
	case d.Reason == fbclient.ReasonOff:
		return of.DisabledReason
	case d.Split:
		return of.SplitReason
	case d.Reason == fbclient.ReasonTargetMatch, d.Reason == fbclient.ReasonRuleMatch:
		return of.TargetingMatchReason
	case d.Reason == fbclient.ReasonFallthrough:
		return of.DefaultReason
	}
	return of.UnknownReason
}

// resolutionError maps an evaluation error of the client to an OpenFeature error code (the
// table is in the README), with the client's message.
func resolutionError(err error) of.ResolutionError {
	msg := err.Error()
	switch {
	case errors.Is(err, fbclient.ErrClientNotReady):
		return of.NewProviderNotReadyResolutionError(msg)
	case errors.Is(err, fbclient.ErrFlagNotFound):
		return of.NewFlagNotFoundResolutionError(msg)
	case errors.Is(err, fbclient.ErrWrongType):
		return of.NewTypeMismatchResolutionError(msg)
	case errors.Is(err, fbclient.ErrInvalidUser):
		return of.NewTargetingKeyMissingResolutionError(msg)
	case errors.Is(err, fbclient.ErrEvaluation):
		return of.NewParseErrorResolutionError(msg, err)
	}
	return of.NewGeneralResolutionError(msg, err)
}
