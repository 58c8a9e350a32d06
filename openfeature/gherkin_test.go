package openfeature

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/cucumber/godog"

	"github.com/featflags/fbclient"
	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
)

// TestGherkinEvaluation runs the OpenFeature specification's evaluation scenarios
// (testdata/evaluation.feature) against the provider, with an offline client whose data set
// (testdata/flags.json) holds the scenarios' flags as FeatBit flags. Two adaptations, both in
// the step definitions below:
//   - FeatBit needs a user key for every evaluation, and the scenarios give no targeting key:
//     the API-level evaluation context supplies one, so "the context is empty" means no
//     attributes.
//   - FeatBit has no static flags: a flag without targets or rules serves its default rule,
//     which the provider reports as DEFAULT where the scenarios expect STATIC.
func TestGherkinEvaluation(t *testing.T) {
	checkLeaks(t)
	suite := godog.TestSuite{
		Name:                "evaluation",
		ScenarioInitializer: func(sc *godog.ScenarioContext) { (&scenario{t: t}).register(sc) },
		Options: &godog.Options{
			Format:   "progress",
			Output:   io.Discard, // failures are reported by the subtests of t
			NoColors: true,
			Paths:    []string{"testdata/evaluation.feature"},
			Strict:   true,
			TestingT: t,
		},
	}
	if suite.Run() != 0 {
		t.Fatal("the evaluation scenarios failed")
	}
}

// staticReason is the reason the provider gives where the scenarios expect STATIC.
const staticReason = of.DefaultReason

// scenario is the state of one scenario.
type scenario struct {
	t       *testing.T
	api     *of.EvaluationAPI
	client  *fbclient.Client
	flags   *of.Client
	ec      of.EvaluationContext
	flag    string
	def     any
	details of.InterfaceEvaluationDetails
	err     error
}

func (s *scenario) register(sc *godog.ScenarioContext) {
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if s.api != nil {
			if serr := s.api.Shutdown(context.Background()); serr != nil {
				return ctx, serr
			}
		}
		return ctx, err
	})
	sc.Step(`^a stable provider$`, s.stableProvider)

	sc.Step(`^a boolean flag with key "([^"]*)" is evaluated with (?:details and )?default value "([^"]*)"$`, s.evalBool)
	sc.Step(`^a string flag with key "([^"]*)" is evaluated with (?:details and )?default value "([^"]*)"$`, s.evalString)
	sc.Step(`^an integer flag with key "([^"]*)" is evaluated with (?:details and )?default value (\d+)$`, s.evalInt)
	sc.Step(`^a float flag with key "([^"]*)" is evaluated with (?:details and )?default value (-?\d+\.\d+)$`, s.evalFloat)
	sc.Step(`^an object flag with key "([^"]*)" is evaluated with (?:details and )?a null default value$`, s.evalObject)

	sc.Step(`^the resolved boolean value should be "([^"]*)"$`, s.valueIs)
	sc.Step(`^the resolved string value should be "([^"]*)"$`, s.valueIs)
	sc.Step(`^the resolved integer value should be (\d+)$`, s.valueIs)
	sc.Step(`^the resolved float value should be (-?\d+\.\d+)$`, s.valueIs)
	sc.Step(`^the resolved object (?:details )?value should be contain fields "([^"]*)", "([^"]*)", and "([^"]*)", with values "([^"]*)", "([^"]*)" and (\d+), respectively$`, s.objectFields)

	sc.Step(`^the resolved (?:boolean|string|integer|float) details value should be "?([^"]*?)"?, the variant should be "([^"]*)", and the reason should be "([^"]*)"$`, s.detailsAre)
	sc.Step(`^the variant should be "([^"]*)", and the reason should be "([^"]*)"$`, s.variantAndReason)

	sc.Step(`^context contains keys "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)" with values "([^"]*)", "([^"]*)", (\d+), "([^"]*)"$`, s.contextContains)
	sc.Step(`^a flag with key "([^"]*)" is evaluated with default value "([^"]*)"$`, s.evalString)
	sc.Step(`^the resolved string response should be "([^"]*)"$`, s.valueIs)
	sc.Step(`^the resolved flag value is "([^"]*)" when the context is empty$`, s.emptyContextValue)

	sc.Step(`^a non-existent string flag with key "([^"]*)" is evaluated with details and a fallback value "([^"]*)"$`, s.evalString)
	sc.Step(`^a string flag with key "([^"]*)" is evaluated as an integer, with details and a fallback value (\d+)$`, s.evalInt)
	sc.Step(`^the default (?:string|integer) value should be returned$`, s.defaultReturned)
	sc.Step(`^the reason should indicate an error and the error code should indicate (?:a missing flag|a type mismatch) with "([^"]*)"$`, s.errorIs)
}

func (s *scenario) stableProvider() error {
	c, err := fbclient.New(fbclient.Config{Offline: true, DataFile: "testdata/flags.json"})
	if err != nil {
		return err
	}
	s.client = c
	s.api = isolated.NewAPI()
	s.api.SetEvaluationContext(of.NewEvaluationContext("gherkin-user", nil))
	if err := s.api.SetProviderAndWait(context.Background(), NewProvider(c)); err != nil {
		return err
	}
	s.flags = s.api.NewClient()
	return nil
}

func (s *scenario) evalBool(flag, def string) error {
	s.flag, s.def = flag, def == "true"
	d, err := s.flags.BooleanValueDetails(context.Background(), flag, def == "true", s.ec)
	s.details, s.err = of.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
	return nil
}

func (s *scenario) evalString(flag, def string) error {
	s.flag, s.def = flag, def
	d, err := s.flags.StringValueDetails(context.Background(), flag, def, s.ec)
	s.details, s.err = of.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
	return nil
}

func (s *scenario) evalInt(flag string, def int64) error {
	s.flag, s.def = flag, def
	d, err := s.flags.IntValueDetails(context.Background(), flag, def, s.ec)
	s.details, s.err = of.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
	return nil
}

func (s *scenario) evalFloat(flag string, def float64) error {
	s.flag, s.def = flag, def
	d, err := s.flags.FloatValueDetails(context.Background(), flag, def, s.ec)
	s.details, s.err = of.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
	return nil
}

func (s *scenario) evalObject(flag string) error {
	s.flag, s.def = flag, nil
	s.details, s.err = s.flags.ObjectValueDetails(context.Background(), flag, nil, s.ec)
	return nil
}

// valueIs checks the resolved value against the scenario's text: the value printed with
// %v, so "true", "hi", "10" and "0.5" compare with bools, strings, ints and floats alike.
func (s *scenario) valueIs(want string) error {
	if s.err != nil {
		return fmt.Errorf("evaluating %s: %w", s.flag, s.err)
	}
	if got := fmt.Sprint(s.details.Value); got != want {
		return fmt.Errorf("%s resolved to %q, want %q", s.flag, got, want)
	}
	return nil
}

func (s *scenario) objectFields(f1, f2, f3, v1, v2 string, v3 int) error {
	if s.err != nil {
		return s.err
	}
	m, ok := s.details.Value.(map[string]any)
	if !ok {
		return fmt.Errorf("%s resolved to a %T, want an object", s.flag, s.details.Value)
	}
	want := map[string]any{f1: v1 == "true", f2: v2, f3: float64(v3)}
	for k, v := range want {
		if !reflect.DeepEqual(m[k], v) {
			return fmt.Errorf("field %s is %#v, want %#v", k, m[k], v)
		}
	}
	return nil
}

func (s *scenario) detailsAre(value, variant, reason string) error {
	if err := s.valueIs(value); err != nil {
		return err
	}
	return s.variantAndReason(variant, reason)
}

func (s *scenario) variantAndReason(variant, reason string) error {
	want := of.Reason(reason)
	if want == of.StaticReason {
		want = staticReason
	}
	if s.details.Variant != variant || s.details.Reason != want {
		return fmt.Errorf("variant %q and reason %s, want %q and %s", s.details.Variant, s.details.Reason, variant, want)
	}
	return nil
}

func (s *scenario) contextContains(k1, k2, k3, k4, v1, v2 string, v3 int, v4 string) error {
	s.ec = of.NewTargetlessEvaluationContext(map[string]any{k1: v1, k2: v2, k3: v3, k4: v4 == "true"})
	return nil
}

func (s *scenario) emptyContextValue(want string) error {
	got, err := s.flags.StringValue(context.Background(), s.flag, "not "+want, of.EvaluationContext{})
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s resolved to %q with an empty context, want %q", s.flag, got, want)
	}
	return nil
}

func (s *scenario) defaultReturned() error {
	if s.details.Value != s.def {
		return fmt.Errorf("%s resolved to %#v, want the default %#v", s.flag, s.details.Value, s.def)
	}
	return nil
}

func (s *scenario) errorIs(code string) error {
	if s.err == nil || s.details.Reason != of.ErrorReason || s.details.ErrorCode != of.ErrorCode(code) {
		return fmt.Errorf("reason %s, error code %q, error %v; want ERROR, %s", s.details.Reason, s.details.ErrorCode, s.err, code)
	}
	return nil
}
