// Command threads starts four OS threads, waits a second (long enough for
// customs trace --pid to attach), then writes one file from each thread:
// threads that existed before the attach must be followed too.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

func main() {
	dir := os.Args[1]
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			time.Sleep(time.Second)
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("t%d", i)), []byte("x"), 0o600)
		}()
	}
	wg.Wait()
}
