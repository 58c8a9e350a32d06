package fbclient

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/featflags/fbclient/internal/wire"
)

func TestScratchHeap(t *testing.T) {
	doc := largeDataSet(10000)
	runtime.MemProfileRate = 1
	st := new(store)
	ds, _ := wire.DecodeDataSet(doc)
	st.apply(ds)
	ds = nil
	runtime.GC()
	runtime.GC()
	f, _ := os.Create("/tmp/dec/heap.out")
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	runtime.KeepAlive(st)
}
