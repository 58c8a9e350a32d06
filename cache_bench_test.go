package fbclient

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/featflags/fbclient/internal/wire"
)

// What one save of 10,000 flags costs the cache writer's goroutine: the data set rebuilt from
// the snapshot, encoded, written, synced and renamed.
func BenchmarkCacheSave10000Flags(b *testing.B) {
	ds, err := wire.DecodeDataSet(largeDataSet(10000))
	if err != nil {
		b.Fatal(err)
	}
	st := store{keepSource: true}
	st.apply(ds)
	fc := FileCache(filepath.Join(b.TempDir(), "flags.json"))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := fc.Save(context.Background(), st.load().dataSet()); err != nil {
			b.Fatal(err)
		}
	}
}

// What a warm start costs New after StartWait: reading and decoding 10,000 flags.
func BenchmarkCacheLoad10000Flags(b *testing.B) {
	ds, err := wire.DecodeDataSet(largeDataSet(10000))
	if err != nil {
		b.Fatal(err)
	}
	st := store{keepSource: true}
	st.apply(ds)
	fc := FileCache(filepath.Join(b.TempDir(), "flags.json"))
	if err := fc.Save(context.Background(), st.load().dataSet()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loaded, err := fc.Load(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		var st store
		st.apply(loaded.ds)
	}
}
