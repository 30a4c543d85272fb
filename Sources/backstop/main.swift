import BackstopCLI
import CBackstopSignals

// Large buffers straight from mmap and back: without it, glibc kept freed upload parts in per-thread
// heaps and a 1 GiB push peaked at 170 MiB instead of about 116 MiB.
bk_tune_allocator()

Backstop.runAndExit()
