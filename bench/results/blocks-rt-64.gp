set terminal pngcairo size 1400,600 noenhanced
set output '/work/main/bench/results/blocks-rt-64.png'
set title 'pmq-bench rt 64 B, set 1: p50 of every block in the order run (TSC per sample)'
set xlabel 'block'; set ylabel 'round trip p50 (ns)'; set logscale y; set key outside right
set yrange [50:20000]   # blocks hit by preemption (ms) are off the top
plot '/work/main/bench/results/blocks-rt-64-floor-8.dat' with points pt 7 ps 0.4 title 'floor-8', '/work/main/bench/results/blocks-rt-64-floor-2l.dat' with points pt 7 ps 0.4 title 'floor-2l', '/work/main/bench/results/blocks-rt-64-floor-ring.dat' with points pt 7 ps 0.4 title 'floor-ring', '/work/main/bench/results/blocks-rt-64-pmq-spsc.dat' with points pt 7 ps 0.4 title 'pmq-spsc', '/work/main/bench/results/blocks-rt-64-pmq.dat' with points pt 7 ps 0.4 title 'pmq'
