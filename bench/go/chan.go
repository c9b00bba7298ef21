// Go counterparts of bench/sync.c, run with GOMAXPROCS=1 so goroutines
// switch on one OS thread like libgreen's green threads.
//
//	chan  unbuffered  main hands items to a consumer goroutine through an
//	                  unbuffered channel; ns per item.
//	chan  buffered    the same through a channel of 128 slots.
//	select two_channels  two goroutines each feed one unbuffered channel;
//	                  main takes every item with a select over both; ns per
//	                  item.
//	pool  spawn_8     1,000,000 trivial goroutines, at most 8 at once (a
//	                  buffered channel as semaphore), then wait; ns per job.
//
// Rows: benchmark<TAB>implementation<TAB>metric<TAB>value<TAB>unit, each the
// best of BENCH_REPETITIONS (default 9) runs of about 20 ms (the pool: of
// exactly 1,000,000 jobs, at most 3 runs).
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

const runNs = 20e6
const poolJobs = 1000000

func channelRun(size int, n int) {
	ch := make(chan int, size)
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			<-ch
		}
		close(done)
	}()
	for i := 0; i < n; i++ {
		ch <- i + 1
	}
	<-done
}

func selectRun(n int) {
	a, b := make(chan int), make(chan int)
	feed := func(ch chan int, count int) {
		for i := 0; i < count; i++ {
			ch <- i + 1
		}
	}
	go feed(a, n/2)
	go feed(b, n-n/2)
	for i := 0; i < n; i++ {
		select {
		case <-a:
		case <-b:
		}
	}
}

func trivialJob(i int) int { return i }

func poolRun(n int) {
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		slots <- struct{}{}
		wg.Add(1)
		go func(i int) {
			trivialJob(i)
			<-slots
			wg.Done()
		}(i)
	}
	wg.Wait()
}

func timeRun(run func(int), n int) float64 {
	start := time.Now()
	run(n)
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// calibrate doubles n until a run lasts a tenth of runNs, then scales it.
func calibrate(run func(int)) int {
	n := 1
	for {
		elapsed := timeRun(run, n) * float64(n)
		if elapsed >= runNs/10 {
			return int(float64(n)*runNs/elapsed) + 1
		}
		n *= 2
	}
}

func repetitions() int {
	if r, err := strconv.Atoi(os.Getenv("BENCH_REPETITIONS")); err == nil && r > 0 {
		return r
	}
	return 9
}

func main() {
	type benchCase struct {
		benchmark string
		metric    string
		run       func(int)
		n         int
		best      float64
	}
	cases := []*benchCase{
		{benchmark: "chan", metric: "unbuffered", run: func(n int) { channelRun(0, n) }},
		{benchmark: "chan", metric: "buffered", run: func(n int) { channelRun(128, n) }},
		{benchmark: "select", metric: "two_channels", run: selectRun},
	}
	for _, c := range cases {
		c.n = calibrate(c.run)
		c.best = timeRun(c.run, c.n)
	}
	for r := 1; r < repetitions(); r++ {
		for _, c := range cases {
			if t := timeRun(c.run, c.n); t < c.best {
				c.best = t
			}
		}
	}
	for _, c := range cases {
		fmt.Printf("%s\tgo\t%s\t%.2f\tns/item\n", c.benchmark, c.metric, c.best)
	}

	best := timeRun(poolRun, poolJobs)
	for r := 1; r < repetitions() && r < 3; r++ {
		if t := timeRun(poolRun, poolJobs); t < best {
			best = t
		}
	}
	fmt.Printf("pool\tgo\tspawn_8\t%.2f\tns/job\n", best)
}
