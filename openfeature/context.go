package openfeature

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/featflags/fbclient"
	of "github.com/open-feature/go-sdk/openfeature"
)

// nameAttribute is the evaluation-context attribute that becomes the FeatBit user's name.
const nameAttribute = "name"

// Errors of the evaluation-context mapping, reported as resolution errors.
var (
	errNoTargetingKey = of.NewTargetingKeyMissingResolutionError("the evaluation context has no targeting key; FeatBit needs one as the user's key")
	errKeyNotString   = of.NewTargetingKeyMissingResolutionError("the evaluation context's targeting key is not a string")
)

// userOf maps a flattened OpenFeature evaluation context to a FeatBit user: the targeting
// key is the user's key, the "name" attribute its name, and every other attribute a custom
// property, in the order of their names (see attrString for the values). An attribute whose
// value is nil, or a nil pointer, is left out. It returns a TARGETING_KEY_MISSING error when
// the targeting key is missing, blank or not a string, and an INVALID_CONTEXT error for an
// attribute value that cannot be written as a string.
func userOf(flat of.FlattenedContext) (fbclient.User, *of.ResolutionError) {
	raw, ok := flat[of.TargetingKey]
	if !ok {
		return fbclient.User{}, &errNoTargetingKey
	}
	key, ok := raw.(string)
	if !ok {
		return fbclient.User{}, &errKeyNotString
	}
	if strings.TrimSpace(key) == "" {
		return fbclient.User{}, &errNoTargetingKey
	}
	u := fbclient.NewUser(key)
	names := make([]string, 0, len(flat))
	for name, v := range flat {
		if name != of.TargetingKey && !isNil(v) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		s, err := attrString(flat[name])
		if err != nil {
			re := of.NewInvalidContextResolutionError(fmt.Sprintf("attribute %q: %v", name, err))
			return fbclient.User{}, &re
		}
		if name == nameAttribute {
			u = u.WithName(s)
		} else {
			u = u.WithCustom(name, s)
		}
	}
	return u, nil
}

var timeType = reflect.TypeFor[time.Time]()

// attrString writes an attribute value as the string FeatBit stores: a string as it is;
// a bool as "true" or "false"; an integer in decimal; a float in the shortest decimal form
// that reads back as the same number, without an exponent ("29", "0.5", "1e+21" as
// "1000000000000000000000"), with NaN as "NaN" and infinities as "Infinity" and "-Infinity"
// as FeatBit's evaluation server reads them; a time.Time in UTC as RFC 3339 with as many
// fractional-second digits as it needs; anything else (slices, maps, structs) as its JSON
// encoding. Named types with a basic kind (type Plan string) are written like their kind,
// and a pointer like the value it points to.
func attrString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case json.Number:
		return x.String(), nil
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return floatString(rv.Float(), rv.Type().Bits()), nil
	case reflect.Struct:
		if rv.Type().ConvertibleTo(timeType) {
			return rv.Convert(timeType).Interface().(time.Time).UTC().Format(time.RFC3339Nano), nil
		}
	}
	b, err := json.Marshal(v) // v itself, for the MarshalJSON methods of pointer receivers
	if err != nil {
		var ute *json.UnsupportedTypeError
		if errors.As(err, &ute) {
			return "", fmt.Errorf("a %s cannot be written as a FeatBit string", ute.Type)
		}
		return "", err
	}
	return string(b), nil
}

// isNil reports whether v is nil or a nil pointer.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func floatString(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}
