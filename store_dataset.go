package fbclient

import (
	"slices"
	"strings"

	"github.com/featflags/fbclient/internal/wire"
)

// dataSet returns the snapshot's items, archived ones included, as a full data set in
// FeatBit's form, flags sorted by key and segments by id. It shares the items' wire data,
// which nothing modifies.
//
// This is the store's dataSet kept in a file of its own, so that it can give way to the
// store's version of it.
func (s *snapshot) dataSet() *DataSet {
	ds := &wire.DataSync{
		EventType:    wire.EventFull,
		FeatureFlags: make([]wire.Flag, 0, len(s.flags)),
		Segments:     make([]wire.Segment, 0, len(s.segments)),
	}
	for _, f := range s.flags {
		ds.FeatureFlags = append(ds.FeatureFlags, f.src)
	}
	for _, sg := range s.segments {
		ds.Segments = append(ds.Segments, sg.src)
	}
	slices.SortFunc(ds.FeatureFlags, func(a, b wire.Flag) int { return strings.Compare(a.Key, b.Key) })
	slices.SortFunc(ds.Segments, func(a, b wire.Segment) int { return strings.Compare(a.ID, b.ID) })
	return &DataSet{ds: ds}
}
