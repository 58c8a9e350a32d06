package fbclient

import "context"

// ContextClient is a Client bound to a context.Context: it has the Client's variation
// methods, which pass the context to Config.Hooks (a tracing hook finds the request's span
// in it). Get one per request with Client.WithContext; it is a small value, and making and
// using one costs no allocation. The evaluation itself never blocks, so it does not consult
// the context's deadline or cancellation. JSONVariation and JSONVariationDetail accept a
// ContextClient as well as a *Client.
//
// The zero ContextClient is bound to a nil Client: every evaluation returns its default.
type ContextClient struct {
	c   *Client
	ctx context.Context
}

// WithContext returns the client bound to ctx, for evaluations whose hooks should see ctx:
//
//	on := client.WithContext(r.Context()).BoolVariation("new-checkout", user, false)
//
// A nil ctx means context.Background(). The Client's own methods are those of
// c.WithContext(context.Background()).
func (c *Client) WithContext(ctx context.Context) ContextClient {
	if ctx == nil {
		ctx = context.Background()
	}
	return ContextClient{c: c, ctx: ctx}
}

// Variation is Client.Variation with the bound context.
func (cc ContextClient) Variation(flagKey string, user User, defaultValue string) string {
	return cc.c.variation(cc.ctx, flagKey, &user, defaultValue)
}

// VariationDetail is Client.VariationDetail with the bound context.
func (cc ContextClient) VariationDetail(flagKey string, user User, defaultValue string) EvalDetail {
	return cc.c.variationDetail(cc.ctx, flagKey, &user, defaultValue)
}

// BoolVariation is Client.BoolVariation with the bound context.
func (cc ContextClient) BoolVariation(flagKey string, user User, defaultValue bool) bool {
	return cc.c.boolVariation(cc.ctx, flagKey, &user, defaultValue)
}

// BoolVariationDetail is Client.BoolVariationDetail with the bound context.
func (cc ContextClient) BoolVariationDetail(flagKey string, user User, defaultValue bool) (bool, EvalDetail) {
	return cc.c.boolVariationDetail(cc.ctx, flagKey, &user, defaultValue)
}

// IntVariation is Client.IntVariation with the bound context.
func (cc ContextClient) IntVariation(flagKey string, user User, defaultValue int) int {
	return cc.c.intVariation(cc.ctx, flagKey, &user, defaultValue)
}

// IntVariationDetail is Client.IntVariationDetail with the bound context.
func (cc ContextClient) IntVariationDetail(flagKey string, user User, defaultValue int) (int, EvalDetail) {
	return cc.c.intVariationDetail(cc.ctx, flagKey, &user, defaultValue)
}

// Float64Variation is Client.Float64Variation with the bound context.
func (cc ContextClient) Float64Variation(flagKey string, user User, defaultValue float64) float64 {
	return cc.c.float64Variation(cc.ctx, flagKey, &user, defaultValue)
}

// Float64VariationDetail is Client.Float64VariationDetail with the bound context.
func (cc ContextClient) Float64VariationDetail(flagKey string, user User, defaultValue float64) (float64, EvalDetail) {
	return cc.c.float64VariationDetail(cc.ctx, flagKey, &user, defaultValue)
}

// Evaluator is what JSONVariation and JSONVariationDetail evaluate with: a *Client, or a
// ContextClient for hooks to see its context. Only this package implements it.
type Evaluator interface {
	bound() (*Client, context.Context)
}

func (c *Client) bound() (*Client, context.Context) { return c, context.Background() }

func (cc ContextClient) bound() (*Client, context.Context) { return cc.c, cc.ctx }

// boundTo returns the client and context of e; a nil Evaluator is a nil Client.
func boundTo(e Evaluator) (*Client, context.Context) {
	if e == nil {
		return nil, context.Background()
	}
	return e.bound()
}
