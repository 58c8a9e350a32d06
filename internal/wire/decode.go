package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
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

// maxDepth is the deepest nesting of arrays and objects accepted, the limit encoding/json uses.
const maxDepth = 10000

// decodeError is a syntax or type error at byte offset off of the input.
type decodeError struct {
	off int
	msg string
}

// decoder reads JSON from b, starting at i.
type decoder struct {
	b       []byte
	i       int
	depth   int
	typeErr *decodeError // first type mismatch seen; decoding continues after one
	buf     []byte       // scratch space for strings with escapes
	vars    []Variation  // variations of the flag being decoded, to share their id strings
}

// err turns the outcome of a decode into the package's error form: syntax errors first, then
// the first type error, each with a line and column.
func (d *decoder) err(e *decodeError) error {
	if e == nil {
		e = d.typeErr
	}
	if e == nil {
		return nil
	}
	return positionError(d.b, e.off, e.msg)
}

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
func (d *decoder) dataSync(ds *DataSync, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch k := keyID(key); k {
		case kEventType, kFeatureFlags, kSegments:
			e = d.dataSyncField(ds, k)
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
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
	if ok, e := d.object(target); !ok {
		return e
	}
	d.vars = nil
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kID:
			e = d.stringValue(&f.ID, "Flag.id")
		case kEnvID:
			e = d.stringValue(&f.EnvID, "Flag.envId")
		case kName:
			e = d.stringValue(&f.Name, "Flag.name")
		case kKey:
			e = d.stringValue(&f.Key, "Flag.key")
		case kVariationType:
			e = d.stringValue(&f.VariationType, "Flag.variationType")
		case kVariations:
			e = decodeSlice(d, &f.Variations, "Flag.variations", 2, (*decoder).variation)
			d.vars = f.Variations
		case kTargetUsers:
			e = decodeSlice(d, &f.TargetUsers, "Flag.targetUsers", 0, (*decoder).targetUser)
		case kRules:
			e = decodeSlice(d, &f.Rules, "Flag.rules", 0, (*decoder).rule)
		case kIsEnabled:
			e = d.boolValue(&f.IsEnabled, "Flag.isEnabled")
		case kDisabledVariationID:
			e = d.variationRef(&f.DisabledVariationID, "Flag.disabledVariationId")
		case kFallthrough:
			e = d.fallthroughRule(&f.Fallthrough, "Flag.fallthrough")
		case kExptIncludeAllTargets:
			e = d.boolValue(&f.ExptIncludeAllTargets, "Flag.exptIncludeAllTargets")
		case kTags:
			e = decodeSlice(d, &f.Tags, "Flag.tags", 0, (*decoder).stringValue)
		case kUpdatedAt:
			e = d.stringValue(&f.UpdatedAt, "Flag.updatedAt")
		case kIsArchived:
			e = d.boolValue(&f.IsArchived, "Flag.isArchived")
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) variation(v *Variation, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kID:
			e = d.stringValue(&v.ID, "Variation.id")
		case kName:
			e = d.stringValue(&v.Name, "Variation.name")
		case kValue:
			e = d.stringValue(&v.Value, "Variation.value")
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) targetUser(t *TargetUser, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kKeyIDs:
			e = decodeSlice(d, &t.KeyIDs, "TargetUser.keyIds", 2, (*decoder).stringValue)
		case kVariationID:
			e = d.variationRef(&t.VariationID, "TargetUser.variationId")
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) rule(r *Rule, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kID:
			e = d.stringValue(&r.ID, "Rule.id")
		case kName:
			e = d.stringValue(&r.Name, "Rule.name")
		case kDispatchKey:
			e = d.stringValue(&r.DispatchKey, "Rule.dispatchKey")
		case kIncludedInExpt:
			e = d.boolValue(&r.IncludedInExpt, "Rule.includedInExpt")
		case kConditions:
			e = decodeSlice(d, &r.Conditions, "Rule.conditions", 0, (*decoder).condition)
		case kVariations:
			e = decodeSlice(d, &r.Variations, "Rule.variations", 0, (*decoder).rolloutVariation)
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) fallthroughRule(f *Fallthrough, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kDispatchKey:
			e = d.stringValue(&f.DispatchKey, "Fallthrough.dispatchKey")
		case kIncludedInExpt:
			e = d.boolValue(&f.IncludedInExpt, "Fallthrough.includedInExpt")
		case kVariations:
			e = decodeSlice(d, &f.Variations, "Fallthrough.variations", 2, (*decoder).rolloutVariation)
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) rolloutVariation(v *RolloutVariation, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kID:
			e = d.variationRef(&v.ID, "RolloutVariation.id")
		case kRollout:
			e = decodeSlice(d, &v.Rollout, "RolloutVariation.rollout", 2, (*decoder).floatValue)
		case kExptRollout:
			e = d.floatValue(&v.ExptRollout, "RolloutVariation.exptRollout")
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) condition(c *Condition, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kID:
			e = d.stringValue(&c.ID, "Condition.id")
		case kProperty:
			e = d.stringValue(&c.Property, "Condition.property")
		case kOp:
			e = d.stringValue(&c.Op, "Condition.op")
		case kValue:
			e = d.stringValue(&c.Value, "Condition.value")
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) segment(s *Segment, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kID:
			e = d.stringValue(&s.ID, "Segment.id")
		case kEnvID:
			e = d.stringValue(&s.EnvID, "Segment.envId")
		case kName:
			e = d.stringValue(&s.Name, "Segment.name")
		case kDescription:
			e = d.stringValue(&s.Description, "Segment.description")
		case kIncluded:
			e = decodeSlice(d, &s.Included, "Segment.included", 0, (*decoder).stringValue)
		case kExcluded:
			e = decodeSlice(d, &s.Excluded, "Segment.excluded", 0, (*decoder).stringValue)
		case kRules:
			e = decodeSlice(d, &s.Rules, "Segment.rules", 0, (*decoder).segmentRule)
		case kUpdatedAt:
			e = d.stringValue(&s.UpdatedAt, "Segment.updatedAt")
		case kIsArchived:
			e = d.boolValue(&s.IsArchived, "Segment.isArchived")
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
}

func (d *decoder) segmentRule(r *SegmentRule, target string) *decodeError {
	if ok, e := d.object(target); !ok {
		return e
	}
	for first := true; ; first = false {
		key, more, e := d.member(first)
		if e != nil || !more {
			return e
		}
		switch keyID(key) {
		case kID:
			e = d.stringValue(&r.ID, "SegmentRule.id")
		case kName:
			e = d.stringValue(&r.Name, "SegmentRule.name")
		case kConditions:
			e = decodeSlice(d, &r.Conditions, "SegmentRule.conditions", 0, (*decoder).condition)
		default:
			e = d.skip()
		}
		if e != nil {
			return e
		}
	}
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

// object starts decoding an object at d.i. It returns true after consuming '{'. For null,
// and for a value of another type (recorded as a type error and skipped), it returns false
// and nil; on a syntax error it returns false and the error.
func (d *decoder) object(target string) (bool, *decodeError) {
	switch d.peek() {
	case '{':
		return true, d.enter()
	case 'n':
		return false, d.null()
	}
	return false, d.mismatch("object", target)
}

// enter consumes the '{' or '[' at d.i and counts one more level of nesting.
func (d *decoder) enter() *decodeError {
	d.depth++
	if d.depth > maxDepth {
		return &decodeError{d.i, "exceeded max depth"}
	}
	d.i++
	return nil
}

// member advances to the next member of an object whose '{' has been consumed. It returns
// the key, with the value next at d.i, or more == false after consuming the closing '}'.
// first is true before the first member. The key is valid until the next string is read.
func (d *decoder) member(first bool) (key []byte, more bool, e *decodeError) {
	b := d.b
	i := skipWS(b, d.i)
	c := byteAt(b, i)
	if !first {
		switch c {
		case ',':
			i = skipWS(b, i+1)
			c = byteAt(b, i)
		case '}':
			d.i = i + 1
			d.depth--
			return nil, false, nil
		default:
			d.i = i
			return nil, false, d.syntax("after object key:value pair")
		}
	} else if c == '}' {
		d.i = i + 1
		d.depth--
		return nil, false, nil
	}
	if c != '"' {
		d.i = i
		return nil, false, d.syntax("looking for beginning of object key string")
	}
	// Keys are short: a byte loop beats scanString's word loop.
	start := i + 1
	j := start
	for j < len(b) && plain[b[j]] {
		j++
	}
	if j < len(b) && b[j] == '"' {
		key = b[start:j]
		i = j + 1
	} else {
		if key, e = d.scanStringSlow(start, j); e != nil {
			return nil, false, e
		}
		i = d.i
	}
	i = skipWS(b, i)
	if byteAt(b, i) != ':' {
		d.i = i
		return nil, false, d.syntax("after object key")
	}
	d.i = skipWS(b, i+1)
	return key, true, nil
}

// element advances to the next element of an array whose '[' has been consumed, leaving the
// element at d.i, or returns false after consuming the closing ']'.
func (d *decoder) element(first bool) (bool, *decodeError) {
	b := d.b
	i := skipWS(b, d.i)
	c := byteAt(b, i)
	if !first {
		switch c {
		case ',':
			d.i = skipWS(b, i+1)
			return true, nil
		case ']':
		default:
			d.i = i
			return false, d.syntax("after array element")
		}
	} else if c != ']' {
		d.i = i
		return true, nil
	}
	d.i = i + 1
	d.depth--
	return false, nil
}

// ws skips JSON white space.
func (d *decoder) ws() {
	d.i = skipWS(d.b, d.i)
}

// skipWS returns the index of the first byte from b[i] on that is not JSON white space.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		if c := b[i]; c > ' ' || c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			break
		}
		i++
	}
	return i
}

// byteAt returns b[i], or 0 past the end.
func byteAt(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// peek returns the byte at d.i, or 0 at the end of the input.
func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// end checks that only white space follows the top-level value.
func (d *decoder) end() *decodeError {
	d.ws()
	if d.i < len(d.b) {
		return d.syntax("after top-level value")
	}
	return nil
}

// syntax reports the byte at d.i as unexpected, or the end of the input.
func (d *decoder) syntax(context string) *decodeError {
	if d.i >= len(d.b) {
		return &decodeError{len(d.b), "unexpected end of JSON input"}
	}
	return &decodeError{d.i, "invalid character " + quoteChar(d.b[d.i]) + " " + context}
}

func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= utf8.RuneSelf:
		return fmt.Sprintf("'\\x%02x'", c)
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// typeError records a type mismatch at off unless one was recorded before.
func (d *decoder) typeError(off int, msg string) {
	if d.typeErr == nil {
		d.typeErr = &decodeError{off, msg}
	}
}

// mismatch records that the value at d.i is not of type want and skips it.
func (d *decoder) mismatch(want, target string) *decodeError {
	var got string
	switch c := d.peek(); {
	case c == '"':
		got = "string"
	case c == '{':
		got = "object"
	case c == '[':
		got = "array"
	case c == 't' || c == 'f':
		got = "bool"
	case c == 'n':
		got = "null"
	case c == '-' || c >= '0' && c <= '9':
		got = "number"
	default:
		return d.syntax("looking for beginning of value")
	}
	off := d.i
	if e := d.skip(); e != nil {
		return e
	}
	d.typeError(off, "cannot unmarshal "+got+" into "+target+" (want "+want+")")
	return nil
}

// null consumes the literal null at d.i.
func (d *decoder) null() *decodeError {
	return d.literal("null")
}

// literal consumes lit (true, false or null), whose first byte is at d.i.
func (d *decoder) literal(lit string) *decodeError {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return nil
	}
	for j := 1; j < len(lit); j++ {
		d.i++
		if d.i >= len(d.b) || d.b[d.i] != lit[j] {
			return d.syntax("in literal " + lit + " (expecting " + quoteChar(lit[j]) + ")")
		}
	}
	return nil // not reached: the fast path matched
}

// number consumes a number at d.i, whose first byte is '-' or a digit. When the number is
// simple enough to be converted exactly (at most 15 significant digits, no exponent), f is
// its value and exact is true; otherwise the caller parses it with strconv.
func (d *decoder) number() (f float64, exact bool, e *decodeError) {
	b := d.b
	i := d.i
	neg := false
	if b[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits, frac := 0, 0
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			mant = mant*10 + uint64(b[i]-'0')
			digits++
			i++
		}
	default:
		d.i = i
		return 0, false, d.syntax("in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return 0, false, d.syntax("after decimal point in numeric literal")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			mant = mant*10 + uint64(b[i]-'0')
			if mant != 0 {
				digits++
			}
			frac++
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return 0, false, d.syntax("in exponent of numeric literal")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		d.i = i
		return 0, false, nil
	}
	d.i = i
	if digits > 15 || frac >= len(pow10) {
		return 0, false, nil
	}
	// Both operands are exact float64 values, so the one rounding of the division gives the
	// correctly rounded result, as strconv.ParseFloat would.
	f = float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true, nil
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// plain marks the bytes that stand for themselves inside a string: no quote, no backslash,
// no control character, and ASCII (bytes from 0x80 need a UTF-8 check).
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at d.i and returns it as a new string.
func (d *decoder) str() (string, *decodeError) {
	b, e := d.scanString()
	if e != nil {
		return "", e
	}
	return intern(b), nil
}

// intern returns the string of b, sharing the memory of a few values that are repeated in
// every data set instead of allocating them again.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "true":
		return "true"
	case "false":
		return "false"
	case "True":
		return "True"
	case "False":
		return "False"
	case "boolean":
		return "boolean"
	case "string":
		return "string"
	case "number":
		return "number"
	case "json":
		return "json"
	case "full":
		return "full"
	case "patch":
		return "patch"
	case "keyId":
		return "keyId"
	case "name":
		return "name"
	case "IsOneOf":
		return "IsOneOf"
	case "NotOneOf":
		return "NotOneOf"
	case "Equal":
		return "Equal"
	case "NotEqual":
		return "NotEqual"
	case "Contains":
		return "Contains"
	case "NotContain":
		return "NotContain"
	case "StartsWith":
		return "StartsWith"
	case "EndsWith":
		return "EndsWith"
	case "MatchRegex":
		return "MatchRegex"
	case "NotMatchRegex":
		return "NotMatchRegex"
	case "IsTrue":
		return "IsTrue"
	case "IsFalse":
		return "IsFalse"
	case "BiggerThan":
		return "BiggerThan"
	case "BiggerEqualThan":
		return "BiggerEqualThan"
	case "LessThan":
		return "LessThan"
	case "LessEqualThan":
		return "LessEqualThan"
	case SegmentIn:
		return SegmentIn
	case SegmentNotIn:
		return SegmentNotIn
	}
	return string(b)
}

// scanString reads the string whose opening quote is at d.i and returns its contents:
// a slice of the input when it has no escapes and is valid UTF-8, otherwise the decoded
// text in d.buf. The result is valid until the next call.
func (d *decoder) scanString() ([]byte, *decodeError) {
	b := d.b
	start := d.i + 1
	i := start + plainPrefix(b[start:], true)
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		d.i = i + 1
		return b[start:i], nil
	}
	return d.scanStringSlow(start, i)
}

// Word-at-a-time constants: lsb has the low bit of each byte set, msb the high bit.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainPrefix returns how many leading bytes of b are plain string bytes, counting whole
// 8-byte words only (the caller finishes byte by byte). With ascii, bytes from 0x80 stop it.
func plainPrefix(b []byte, ascii bool) int {
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// The high bit of a byte of t is set where that byte is below 0x20, a quote or a
		// backslash (and possibly in later bytes, which do not matter: only the first counts).
		t := (x - lsb*0x20) & ^x
		q := x ^ (lsb * '"')
		t |= (q - lsb) & ^q
		s := x ^ (lsb * '\\')
		t |= (s - lsb) & ^s
		if ascii {
			t |= x
		}
		if t &= msb; t != 0 {
			return i + bits.TrailingZeros64(t)>>3
		}
	}
	return i
}

// scanStringSlow continues scanString at b[i], the first byte that is not plain.
func (d *decoder) scanStringSlow(start, i int) ([]byte, *decodeError) {
	b := d.b
	// Accept valid UTF-8 as it is, until an escape or invalid UTF-8 needs a rewrite.
	for {
		if i >= len(b) {
			d.i = i
			return nil, d.syntax("")
		}
		c := b[i]
		switch {
		case plain[c]:
			i++
			continue
		case c == '"':
			d.i = i + 1
			return b[start:i], nil
		case c < ' ':
			d.i = i
			return nil, d.syntax("in string literal")
		case c >= utf8.RuneSelf:
			if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		break // a backslash, or invalid UTF-8
	}
	buf := append(d.buf[:0], b[start:i]...)
	for {
		if i >= len(b) {
			d.i = i
			return nil, d.syntax("")
		}
		c := b[i]
		switch {
		case plain[c]:
			buf = append(buf, c)
			i++
		case c == '"':
			d.i = i + 1
			d.buf = buf
			return buf, nil
		case c < ' ':
			d.i = i
			return nil, d.syntax("in string literal")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			buf = utf8.AppendRune(buf, r) // invalid bytes become U+FFFD one by one
			i += size
		default: // backslash
			i++
			if i >= len(b) {
				d.i = i
				return nil, d.syntax("")
			}
			switch b[i] {
			case '"', '\\', '/':
				buf = append(buf, b[i])
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, e := d.hex4(i + 1)
				if e != nil {
					return nil, e
				}
				i += 4
				if r >= 0xd800 && r < 0xe000 {
					// A high surrogate followed by an escaped low surrogate is one rune;
					// anything else is replaced, and what follows is read on its own.
					r2 := rune(-1)
					if i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
						r2 = peekHex4(b, i+3)
					}
					if r < 0xdc00 && r2 >= 0xdc00 && r2 < 0xe000 {
						r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.i = i
				return nil, d.syntax("in string escape code")
			}
			i++
		}
	}
}

// hex4 decodes the four hex digits of a \u escape starting at b[i].
func (d *decoder) hex4(i int) (rune, *decodeError) {
	var r rune
	for j := i; j < i+4; j++ {
		if j >= len(d.b) {
			d.i = j
			return 0, d.syntax("")
		}
		v := hexVal(d.b[j])
		if v < 0 {
			d.i = j
			return 0, d.syntax("in \\u hexadecimal character escape")
		}
		r = r<<4 | v
	}
	return r, nil
}

// peekHex4 decodes four hex digits at b[i], or returns -1.
func peekHex4(b []byte, i int) rune {
	if len(b)-i < 4 {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r<<4 | v
	}
	return r
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// skip validates and skips the value at d.i.
func (d *decoder) skip() *decodeError {
	switch c := d.peek(); {
	case c == '"':
		return d.skipString()
	case c == '{':
		if e := d.enter(); e != nil {
			return e
		}
		for first := true; ; first = false {
			_, more, e := d.member(first)
			if e != nil || !more {
				return e
			}
			if e := d.skip(); e != nil {
				return e
			}
		}
	case c == '[':
		if e := d.enter(); e != nil {
			return e
		}
		for first := true; ; first = false {
			more, e := d.element(first)
			if e != nil || !more {
				return e
			}
			if e := d.skip(); e != nil {
				return e
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, _, e := d.number()
		return e
	}
	return d.syntax("looking for beginning of value")
}

// skipString validates and skips the string whose opening quote is at d.i. Unlike
// scanString it accepts any byte from 0x20 up, since the text is not kept.
func (d *decoder) skipString() *decodeError {
	b := d.b
	i := d.i + 1
	for {
		i += plainPrefix(b[i:], false)
		for i < len(b) && (plain[b[i]] || b[i] >= utf8.RuneSelf) {
			i++
		}
		if i >= len(b) {
			d.i = i
			return d.syntax("")
		}
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return nil
		case c < ' ':
			d.i = i
			return d.syntax("in string literal")
		}
		// backslash
		i++
		if i >= len(b) {
			d.i = i
			return d.syntax("")
		}
		switch b[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if _, e := d.hex4(i + 1); e != nil {
				return e
			}
			i += 4
		default:
			d.i = i
			return d.syntax("in string escape code")
		}
		i++
	}
}
