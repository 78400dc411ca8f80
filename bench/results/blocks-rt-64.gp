set terminal pngcairo size 1400,600 noenhanced
set output '/work/wt/bench/bench/results/blocks-rt-64.png'
set title 'pmq-bench rt 64 B, set 1: p50 of every block in the order run (TSC per sample)'
set xlabel 'block'; set ylabel 'round trip p50 (ns)'; set logscale y; set key outside right
set yrange [50:20000]   # blocks hit by preemption (ms) are off the top
plot '/work/wt/bench/bench/results/blocks-rt-64-floor-8.dat' with points pt 7 ps 0.4 title 'floor-8', '/work/wt/bench/bench/results/blocks-rt-64-floor-2l.dat' with points pt 7 ps 0.4 title 'floor-2l', '/work/wt/bench/bench/results/blocks-rt-64-floor-ring.dat' with points pt 7 ps 0.4 title 'floor-ring', '/work/wt/bench/bench/results/blocks-rt-64-pmq-spsc.dat' with points pt 7 ps 0.4 title 'pmq-spsc', '/work/wt/bench/bench/results/blocks-rt-64-pmq.dat' with points pt 7 ps 0.4 title 'pmq'
