// Go counterparts of bench/hub.c, run with GOMAXPROCS=1 so goroutines
// switch on one OS thread like libgreen's green threads.
//
//	spawn  batch_1000  1,000,000 trivial goroutines, started 1,000 at a time
//	                   with a sync.WaitGroup waited after each batch; ns per
//	                   goroutine (go + run + Done + Wait).
//	spawn  all_at_once 1,000,000 goroutines started, then one Wait.
//	yield  ring_1000   1,000 goroutines calling runtime.Gosched() in turn;
//	                   ns per yield.
//	timer  start_stop  1,000,000 time.AfterFunc timers made, then stopped;
//	                   ns per timer.
//
// Rows: benchmark<TAB>implementation<TAB>metric<TAB>value<TAB>unit, each
// the best of BENCH_REPETITIONS (default 5) runs.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const total = 1000000
const batch = 1000

var sink int

func spawnBatches() {
	var wg sync.WaitGroup
	for done := 0; done < total; done += batch {
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func(i int) {
				sink = i
				wg.Done()
			}(i)
		}
		wg.Wait()
	}
}

func spawnAllAtOnce() {
	var wg sync.WaitGroup
	wg.Add(total)
	for i := 0; i < total; i++ {
		go func(i int) {
			sink = i
			wg.Done()
		}(i)
	}
	wg.Wait()
}

const ringSize = 1000
const ringRounds = 1000

func yieldRing() {
	var wg sync.WaitGroup
	wg.Add(ringSize)
	for g := 0; g < ringSize; g++ {
		go func() {
			for r := 0; r < ringRounds; r++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
}

func timersStartStop() {
	timers := make([]*time.Timer, total)
	for i := range timers {
		timers[i] = time.AfterFunc(time.Duration(3600+i%1000)*time.Second,
			func() {})
	}
	for _, t := range timers {
		t.Stop()
	}
}

func best(repetitions int, ops float64, run func()) float64 {
	bestNs := 0.0
	for r := 0; r < repetitions; r++ {
		runtime.GC()
		start := time.Now()
		run()
		ns := float64(time.Since(start).Nanoseconds()) / ops
		if r == 0 || ns < bestNs {
			bestNs = ns
		}
	}
	return bestNs
}

func row(benchmark, metric string, value float64, unit string) {
	fmt.Printf("%s\tgo\t%s\t%.2f\t%s\n", benchmark, metric, value, unit)
}

func main() {
	repetitions := 5
	if text := os.Getenv("BENCH_REPETITIONS"); text != "" {
		if n, err := strconv.Atoi(text); err == nil && n > 0 {
			repetitions = n
		}
	}
	row("spawn", "batch_1000", best(repetitions, total, spawnBatches),
		"ns/thread")
	row("spawn", "all_at_once", best(repetitions, total, spawnAllAtOnce),
		"ns/thread")
	row("yield", "ring_1000", best(repetitions, ringSize*ringRounds,
		yieldRing), "ns/yield")
	row("timer", "start_cancel", best(repetitions, total, timersStartStop),
		"ns/timer")
}
