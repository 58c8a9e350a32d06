package wire

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// This file is a single-pass JSON decoder for the wire types. It reads a []byte with an index,
// uses no reflection and no interfaces, and allocates only the strings and slices it returns.
//
// It follows encoding/json's rules for these struct types so that the two are interchangeable:
//   - unknown keys are validated and skipped; keys match the field name exactly or, failing
//     that, under the case folding of bytes.EqualFold (ASCII case plus U+212A KELVIN SIGN for
//     k and U+017F LATIN SMALL LETTER LONG S for s);
//   - a repeated key decodes again into the same field: objects merge, and arrays reuse the
//     slice's elements in place, exactly as encoding/json does;
//   - null leaves strings, numbers, booleans and structs unchanged and sets slices to nil;
//     an empty array gives a non-nil empty slice;
//   - invalid UTF-8 and unpaired surrogate escapes in strings become U+FFFD;
//   - a value of the wrong type is a type error; decoding goes on so that a syntax error later
//     in the input is still reported first, and the first type error is reported at the end;
//   - arrays and objects may nest at most maxDepth deep.

// unmarshalDataSync decodes b into ds with the semantics of json.Unmarshal.
func unmarshalDataSync(b []byte, ds *DataSync) error {
	d := decoder{b: b}
	d.ws()
	e := d.dataSync(ds, "DataSync")
	if e == nil {
		e = d.end()
	}
	return d.err(e)
}

// envelope is what one pass over a top-level message object found.
type envelope struct {
	hasType bool // a non-null messageType was seen (the last one counts)
	msgType string

	dataStart int  // where the last "data" value starts; < 0 when there is none
	dataDone  bool // data was decoded into ds while reading (messageType data-sync came first)
	ds        DataSync
	dsErr     *decodeError // first type error inside data

	// The bare form {"eventType":..., "featureFlags":[...], "segments":[...]}: its fields are
	// decoded while no messageType has been seen. bareSkipped is set when one was skipped
	// because a messageType was set at the time (only matters if a later null clears it).
	bare        bool
	hasBareKeys bool
	bareSkipped bool
	bareDS      DataSync
	bareErr     *decodeError
}

// envelope reads a top-level object at d.i. With bare set, the DataSync fields at top level
// are decoded as well. Type errors of messageType go to d.typeErr; those inside data or the
// bare fields go to env.dsErr and env.bareErr.
func (d *decoder) envelope(env *envelope) *decodeError {
	env.dataStart = -1
	if e := d.enter(); e != nil {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch k := keyID(key); k {
		case kMessageType:
			switch d.peek() {
			case '"':
				env.msgType, e = d.str()
				env.hasType = true
			case 'n':
				e = d.null()
				env.hasType = false
			default:
				e = d.mismatch("string", "messageType")
			}
		case kData:
			start := d.i
			if env.hasType && env.msgType == MessageDataSync {
				saved := d.typeErr
				d.typeErr = nil
				env.ds = DataSync{}
				e = d.dataSync(&env.ds, "data")
				env.dsErr, d.typeErr = d.typeErr, saved
				env.dataDone = true
			} else {
				e = d.skip()
				env.dataDone = false
			}
			env.dataStart = start
		case kEventType, kFeatureFlags, kSegments:
			if !env.bare {
				e = d.skip()
				break
			}
			if k != kEventType {
				env.hasBareKeys = true
			}
			if env.hasType {
				env.bareSkipped = true
				e = d.skip()
				break
			}
			saved := d.typeErr
			d.typeErr = env.bareErr
			e = d.dataSyncField(&env.bareDS, k)
			env.bareErr, d.typeErr = d.typeErr, saved
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

// data returns the decoded data of a data-sync envelope, decoding it now if it came before
// messageType. It reports whether data is present and not null.
func (d *decoder) data(env *envelope) (*DataSync, bool, error) {
	if env.dataStart < 0 || d.b[env.dataStart] == 'n' {
		return nil, false, nil
	}
	if !env.dataDone {
		env.ds = DataSync{}
		sub := decoder{b: d.b, i: env.dataStart, depth: 1}
		if e := sub.dataSync(&env.ds, "data"); e != nil {
			return nil, true, sub.err(e)
		}
		env.dsErr = sub.typeErr
	}
	if env.dsErr != nil {
		return nil, true, d.err(env.dsErr)
	}
	return &env.ds, true, nil
}

// DecodeMessage decodes one streaming message envelope {"messageType":..., "data":...}.
// For a data-sync message, ds is its decoded data; for any other type ds is nil and data is skipped
// (validated as JSON but not decoded). Missing messageType is an error.
func DecodeMessage(b []byte) (messageType string, ds *DataSync, err error) {
	d := decoder{b: b}
	d.ws()
	var env envelope
	var e *decodeError
	switch d.peek() {
	case '{':
		e = d.envelope(&env)
	case 'n':
		e = d.null()
	default:
		e = d.mismatch("object", "message")
	}
	if e == nil {
		e = d.end()
	}
	if err := d.err(e); err != nil {
		return "", nil, err
	}
	if !env.hasType {
		return "", nil, errors.New(`message has no "messageType"`)
	}
	if env.msgType != MessageDataSync {
		return env.msgType, nil, nil
	}
	ds, ok, err := d.data(&env)
	if err != nil {
		return "", nil, err
	}
	if !ok {
		return "", nil, errors.New(`data-sync message has no "data"`)
	}
	if err := checkEventType(ds); err != nil {
		return "", nil, err
	}
	return env.msgType, ds, nil
}

// decodeDataSet is DecodeDataSet on b[start:end], a trimmed document starting with '{'.
func decodeDataSet(b []byte, start, end int) (*DataSync, error) {
	d := decoder{b: b[:end], i: start}
	env := envelope{bare: true}
	e := d.envelope(&env)
	if e == nil {
		e = d.end()
	}
	if err := d.err(e); err != nil {
		return nil, err
	}
	if env.hasType {
		if env.msgType != MessageDataSync {
			return nil, fmt.Errorf("messageType is %q, want %q", env.msgType, MessageDataSync)
		}
		ds, ok, err := d.data(&env)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New(`data-sync message has no "data"`)
		}
		if err := checkEventType(ds); err != nil {
			return nil, err
		}
		return ds, nil
	}
	if !env.hasBareKeys {
		return nil, errors.New(`neither a data-sync message nor an object with "featureFlags" and "segments"`)
	}
	ds := &env.bareDS
	if env.bareSkipped {
		// A messageType that a later null cleared made us skip some fields: read the
		// document again as a plain DataSync.
		*ds = DataSync{}
		sub := decoder{b: b[:end], i: start}
		if err := sub.err(sub.dataSync(ds, "DataSync")); err != nil {
			return nil, err
		}
	} else if env.bareErr != nil {
		return nil, d.err(env.bareErr)
	}
	if err := checkEventType(ds); err != nil {
		return nil, err
	}
	if ds.EventType == "" {
		ds.EventType = EventFull
	}
	return ds, nil
}

// Keys of all the wire types. keyID maps a JSON key to one of these, or to kUnknown.
const (
	kUnknown = iota
	kConditions
	kData
	kDescription
	kDisabledVariationID
	kDispatchKey
	kEnvID
	kEventType
	kExcluded
	kExptIncludeAllTargets
	kExptRollout
	kFallthrough
	kFeatureFlags
	kID
	kIncluded
	kIncludedInExpt
	kIsArchived
	kIsEnabled
	kKey
	kKeyIDs
	kMessageType
	kName
	kOp
	kProperty
	kRollout
	kRules
	kSegments
	kTags
	kTargetUsers
	kUpdatedAt
	kValue
	kVariationID
	kVariationType
	kVariations
	numKeys
)

// keyNames holds the JSON name of each key, indexed by its k constant.
var keyNames = [numKeys]string{
	kConditions:            "conditions",
	kData:                  "data",
	kDescription:           "description",
	kDisabledVariationID:   "disabledVariationId",
	kDispatchKey:           "dispatchKey",
	kEnvID:                 "envId",
	kEventType:             "eventType",
	kExcluded:              "excluded",
	kExptIncludeAllTargets: "exptIncludeAllTargets",
	kExptRollout:           "exptRollout",
	kFallthrough:           "fallthrough",
	kFeatureFlags:          "featureFlags",
	kID:                    "id",
	kIncluded:              "included",
	kIncludedInExpt:        "includedInExpt",
	kIsArchived:            "isArchived",
	kIsEnabled:             "isEnabled",
	kKey:                   "key",
	kKeyIDs:                "keyIds",
	kMessageType:           "messageType",
	kName:                  "name",
	kOp:                    "op",
	kProperty:              "property",
	kRollout:               "rollout",
	kRules:                 "rules",
	kSegments:              "segments",
	kTags:                  "tags",
	kTargetUsers:           "targetUsers",
	kUpdatedAt:             "updatedAt",
	kValue:                 "value",
	kVariationID:           "variationId",
	kVariationType:         "variationType",
	kVariations:            "variations",
}

// keyID identifies a key: an exact match first, then a case-insensitive one. No two names
// are equal under case folding, so a struct that has the field finds it either way, and a
// struct that does not skips the value.
func keyID(k []byte) int {
	switch string(k) {
	case "conditions":
		return kConditions
	case "data":
		return kData
	case "description":
		return kDescription
	case "disabledVariationId":
		return kDisabledVariationID
	case "dispatchKey":
		return kDispatchKey
	case "envId":
		return kEnvID
	case "eventType":
		return kEventType
	case "excluded":
		return kExcluded
	case "exptIncludeAllTargets":
		return kExptIncludeAllTargets
	case "exptRollout":
		return kExptRollout
	case "fallthrough":
		return kFallthrough
	case "featureFlags":
		return kFeatureFlags
	case "id":
		return kID
	case "included":
		return kIncluded
	case "includedInExpt":
		return kIncludedInExpt
	case "isArchived":
		return kIsArchived
	case "isEnabled":
		return kIsEnabled
	case "key":
		return kKey
	case "keyIds":
		return kKeyIDs
	case "messageType":
		return kMessageType
	case "name":
		return kName
	case "op":
		return kOp
	case "property":
		return kProperty
	case "rollout":
		return kRollout
	case "rules":
		return kRules
	case "segments":
		return kSegments
	case "tags":
		return kTags
	case "targetUsers":
		return kTargetUsers
	case "updatedAt":
		return kUpdatedAt
	case "value":
		return kValue
	case "variationId":
		return kVariationID
	case "variationType":
		return kVariationType
	case "variations":
		return kVariations
	}
	return foldKeyID(k)
}

// keysByLen lists the keys by the length of their name.
var keysByLen = func() (t [32][]uint8) {
	for id := 1; id < numKeys; id++ {
		n := len(keyNames[id])
		t[n] = append(t[n], uint8(id))
	}
	return t
}()

// foldKeyID is the case-insensitive part of keyID. Folding keeps the length of an ASCII key,
// so only names of the same length can match it.
func foldKeyID(k []byte) int {
	ascii := true
	for _, c := range k {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		if len(k) < len(keysByLen) {
			for _, id := range keysByLen[len(k)] {
				if foldEqual(k, keyNames[id]) {
					return int(id)
				}
			}
		}
		return kUnknown
	}
	for id := 1; id < numKeys; id++ {
		if foldEqual(k, keyNames[id]) {
			return id
		}
	}
	return kUnknown
}

// foldEqual reports whether bytes.EqualFold(k, []byte(name)) for a name made of ASCII letters,
// without allocating. The only non-ASCII runes that fold to an ASCII letter are U+212A (k) and
// U+017F (s); any other non-ASCII byte, valid or not, cannot match.
func foldEqual(k []byte, name string) bool {
	j := 0
	for i := 0; i < len(k); j++ {
		if j >= len(name) {
			return false
		}
		n := name[j] | 0x20 // lower case; name holds letters only
		c := k[i]
		if c < utf8.RuneSelf {
			if c|0x20 != n {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(k[i:])
		if !(r == '\u212a' && n == 'k' || r == '\u017f' && n == 's') {
			return false
		}
		i += size
	}
	return j == len(name)
}

// dataSync decodes a DataSync object (or null) at d.i.
// members decodes the object (or null) at d.i member by member: field decodes the value of a
// member whose key id it knows and reports true; the values of other members are skipped.
func (d *decoder) members(target string, field func(k int) (*decodeError, bool)) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		e, known := field(keyID(key))
		if !known {
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) dataSync(ds *DataSync, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kEventType, kFeatureFlags, kSegments:
			return d.dataSyncField(ds, k), true
		}
		return nil, false
	})
}

func (d *decoder) dataSyncField(ds *DataSync, k int) *decodeError {
	switch k {
	case kEventType:
		return d.stringValue(&ds.EventType, "DataSync.eventType")
	case kFeatureFlags:
		return decodeSlice(d, &ds.FeatureFlags, "DataSync.featureFlags", 0, (*decoder).flag)
	default:
		return decodeSlice(d, &ds.Segments, "DataSync.segments", 0, (*decoder).segment)
	}
}

func (d *decoder) flag(f *Flag, target string) *decodeError {
	d.vars = nil
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kID:
			return d.stringValue(&f.ID, "Flag.id"), true
		case kEnvID:
			return d.stringValue(&f.EnvID, "Flag.envId"), true
		case kName:
			return d.stringValue(&f.Name, "Flag.name"), true
		case kKey:
			return d.stringValue(&f.Key, "Flag.key"), true
		case kVariationType:
			return d.stringValue(&f.VariationType, "Flag.variationType"), true
		case kVariations:
			e := decodeSlice(d, &f.Variations, "Flag.variations", 2, (*decoder).variation)
			d.vars = f.Variations // later ids of this flag share the variations' strings
			return e, true
		case kTargetUsers:
			return decodeSlice(d, &f.TargetUsers, "Flag.targetUsers", 0, (*decoder).targetUser), true
		case kRules:
			return decodeSlice(d, &f.Rules, "Flag.rules", 0, (*decoder).rule), true
		case kIsEnabled:
			return d.boolValue(&f.IsEnabled, "Flag.isEnabled"), true
		case kDisabledVariationID:
			return d.variationRef(&f.DisabledVariationID, "Flag.disabledVariationId"), true
		case kFallthrough:
			return d.fallthroughRule(&f.Fallthrough, "Flag.fallthrough"), true
		case kExptIncludeAllTargets:
			return d.boolValue(&f.ExptIncludeAllTargets, "Flag.exptIncludeAllTargets"), true
		case kTags:
			return decodeSlice(d, &f.Tags, "Flag.tags", 0, (*decoder).stringValue), true
		case kUpdatedAt:
			return d.stringValue(&f.UpdatedAt, "Flag.updatedAt"), true
		case kIsArchived:
			return d.boolValue(&f.IsArchived, "Flag.isArchived"), true
		}
		return nil, false
	})
}

func (d *decoder) variation(v *Variation, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kID:
			return d.stringValue(&v.ID, "Variation.id"), true
		case kName:
			return d.stringValue(&v.Name, "Variation.name"), true
		case kValue:
			return d.stringValue(&v.Value, "Variation.value"), true
		}
		return nil, false
	})
}

func (d *decoder) targetUser(t *TargetUser, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kKeyIDs:
			return decodeSlice(d, &t.KeyIDs, "TargetUser.keyIds", 2, (*decoder).stringValue), true
		case kVariationID:
			return d.variationRef(&t.VariationID, "TargetUser.variationId"), true
		}
		return nil, false
	})
}

func (d *decoder) rule(r *Rule, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kID:
			return d.stringValue(&r.ID, "Rule.id"), true
		case kName:
			return d.stringValue(&r.Name, "Rule.name"), true
		case kDispatchKey:
			return d.stringValue(&r.DispatchKey, "Rule.dispatchKey"), true
		case kIncludedInExpt:
			return d.boolValue(&r.IncludedInExpt, "Rule.includedInExpt"), true
		case kConditions:
			return decodeSlice(d, &r.Conditions, "Rule.conditions", 0, (*decoder).condition), true
		case kVariations:
			return decodeSlice(d, &r.Variations, "Rule.variations", 0, (*decoder).rolloutVariation), true
		}
		return nil, false
	})
}

func (d *decoder) fallthroughRule(f *Fallthrough, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kDispatchKey:
			return d.stringValue(&f.DispatchKey, "Fallthrough.dispatchKey"), true
		case kIncludedInExpt:
			return d.boolValue(&f.IncludedInExpt, "Fallthrough.includedInExpt"), true
		case kVariations:
			return decodeSlice(d, &f.Variations, "Fallthrough.variations", 2, (*decoder).rolloutVariation), true
		}
		return nil, false
	})
}

func (d *decoder) rolloutVariation(v *RolloutVariation, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kID:
			return d.variationRef(&v.ID, "RolloutVariation.id"), true
		case kRollout:
			return decodeSlice(d, &v.Rollout, "RolloutVariation.rollout", 2, (*decoder).floatValue), true
		case kExptRollout:
			return d.floatValue(&v.ExptRollout, "RolloutVariation.exptRollout"), true
		}
		return nil, false
	})
}

func (d *decoder) condition(c *Condition, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kID:
			return d.stringValue(&c.ID, "Condition.id"), true
		case kProperty:
			return d.stringValue(&c.Property, "Condition.property"), true
		case kOp:
			return d.stringValue(&c.Op, "Condition.op"), true
		case kValue:
			c.ValueNull = d.peek() == 'n'
			return d.stringValue(&c.Value, "Condition.value"), true
		}
		return nil, false
	})
}

func (d *decoder) segment(s *Segment, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kID:
			return d.stringValue(&s.ID, "Segment.id"), true
		case kEnvID:
			return d.stringValue(&s.EnvID, "Segment.envId"), true
		case kName:
			return d.stringValue(&s.Name, "Segment.name"), true
		case kDescription:
			return d.stringValue(&s.Description, "Segment.description"), true
		case kIncluded:
			return decodeSlice(d, &s.Included, "Segment.included", 0, (*decoder).stringValue), true
		case kExcluded:
			return decodeSlice(d, &s.Excluded, "Segment.excluded", 0, (*decoder).stringValue), true
		case kRules:
			return decodeSlice(d, &s.Rules, "Segment.rules", 0, (*decoder).segmentRule), true
		case kUpdatedAt:
			return d.stringValue(&s.UpdatedAt, "Segment.updatedAt"), true
		case kIsArchived:
			return d.boolValue(&s.IsArchived, "Segment.isArchived"), true
		}
		return nil, false
	})
}

func (d *decoder) segmentRule(r *SegmentRule, target string) *decodeError {
	return d.members(target, func(k int) (*decodeError, bool) {
		switch k {
		case kID:
			return d.stringValue(&r.ID, "SegmentRule.id"), true
		case kName:
			return d.stringValue(&r.Name, "SegmentRule.name"), true
		case kConditions:
			return decodeSlice(d, &r.Conditions, "SegmentRule.conditions", 0, (*decoder).condition), true
		}
		return nil, false
	})
}

// chunkLen is the number of elements from which a long array is collected in chunks of this
// size and copied once into a slice of the exact length, instead of growing one slice.
const chunkLen = 256

// decodeSlice decodes an array (or null) at d.i into *dst, one element at a time with elem.
// Like encoding/json it decodes into the elements already in the slice's backing array, which
// only matters when a key is repeated. hint is the capacity of a new slice.
func decodeSlice[T any](d *decoder, dst *[]T, target string, hint int, elem func(*decoder, *T, string) *decodeError) *decodeError {
	switch d.peek() {
	case '[':
	case 'n':
		if e := d.null(); e != nil {
			return e
		}
		*dst = nil
		return nil
	default:
		return d.mismatch("array", target)
	}
	if e := d.enter(); e != nil {
		return e
	}
	s := (*dst)[:0]
	var chunks [][]T // full chunks, once the array outgrows chunkLen
	n := 0
	for first := true; ; first = false {
		more, e := d.element(first)
		if e != nil {
			return e
		}
		if !more {
			break
		}
		if len(s) == cap(s) {
			switch {
			case cap(s) == 0 && hint > 0:
				s = make([]T, 0, hint)
			case cap(s) < chunkLen:
				s = slices.Grow(s, 1)
			default:
				chunks = append(chunks, s)
				s = make([]T, 0, chunkLen)
			}
		}
		// Reslicing within the capacity exposes elements of an earlier decode of the same
		// key, as encoding/json's in-place decoding does.
		s = s[:len(s)+1]
		if e := elem(d, &s[len(s)-1], target); e != nil {
			return e
		}
		n++
	}
	switch {
	case n == 0:
		s = []T{}
	case chunks != nil:
		all := make([]T, 0, n)
		for _, c := range chunks {
			all = append(all, c...)
		}
		s = append(all, s...)
	}
	*dst = s
	return nil
}

// stringValue decodes a string (or null) at d.i into *dst.
func (d *decoder) stringValue(dst *string, target string) *decodeError {
	switch d.peek() {
	case '"':
		s, e := d.str()
		if e == nil {
			*dst = s
		}
		return e
	case 'n':
		return d.null()
	}
	return d.mismatch("string", target)
}

// variationRef is stringValue for a field that names one of the flag's variations: when the
// id is one of theirs, the variation's string is shared instead of allocating a copy.
func (d *decoder) variationRef(dst *string, target string) *decodeError {
	if d.peek() != '"' || len(d.vars) == 0 {
		return d.stringValue(dst, target)
	}
	b, e := d.scanString()
	if e != nil {
		return e
	}
	for i := range d.vars {
		if d.vars[i].ID == string(b) {
			*dst = d.vars[i].ID
			return nil
		}
	}
	*dst = intern(b)
	return nil
}

// boolValue decodes true, false (or null) at d.i into *dst.
func (d *decoder) boolValue(dst *bool, target string) *decodeError {
	switch d.peek() {
	case 't':
		e := d.literal("true")
		if e == nil {
			*dst = true
		}
		return e
	case 'f':
		e := d.literal("false")
		if e == nil {
			*dst = false
		}
		return e
	case 'n':
		return d.null()
	}
	return d.mismatch("bool", target)
}

// floatValue decodes a number (or null) at d.i into *dst.
func (d *decoder) floatValue(dst *float64, target string) *decodeError {
	c := d.peek()
	if c == 'n' {
		return d.null()
	}
	if c != '-' && (c < '0' || c > '9') {
		return d.mismatch("number", target)
	}
	start := d.i
	f, exact, e := d.number()
	if e != nil {
		return e
	}
	if !exact {
		var err error
		f, err = strconv.ParseFloat(string(d.b[start:d.i]), 64)
		if err != nil {
			d.typeError(start, fmt.Sprintf("cannot unmarshal number %s into %s (want float64)", d.b[start:d.i], target))
			return nil
		}
	}
	*dst = f
	return nil
}

// DecodeStringArray decodes a JSON array of strings: the form of an IsOneOf or NotOneOf
// condition value and of a segment condition's segment ids. null gives a nil slice and no
// error; null items are left out, as they equal no string; anything that is not an array of
// strings and nulls (or null) is an error.
func DecodeStringArray(s string) ([]string, error) {
	d := decoder{b: []byte(s)}
	d.ws()
	var out []string
	var nulls []int // indexes of the null items
	n := 0
	e := decodeSlice(&d, &out, "[]string", 0, func(d *decoder, dst *string, target string) *decodeError {
		if d.peek() == 'n' {
			nulls = append(nulls, n)
		}
		n++
		return d.stringValue(dst, target)
	})
	for i := len(nulls) - 1; i >= 0 && e == nil; i-- {
		out = slices.Delete(out, nulls[i], nulls[i]+1)
	}
	if e == nil {
		e = d.end()
	}
	if err := d.err(e); err != nil {
		return nil, err
	}
	return out, nil
}
