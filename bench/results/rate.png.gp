set terminal pngcairo size 1100,700 font 'sans,11' noenhanced
set output '/work/main/bench/results/rate.png'
set title 'pmq-bench rate latency, 64 B messages, CPUs 0,1, wait spin, 1024 slots (all repetitions merged)'
set logscale x
set logscale y
set xlabel 'percentile'
set ylabel 'latency (us)'
set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000, '99.9999%%' 1000000)
set grid xtics ytics mytics
set key outside right top
plot \
  '/work/main/bench/results/rate.png.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'floor-ring', \
  '/work/main/bench/results/rate.png.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'pmq', \
  '/work/main/bench/results/rate.png.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'pmq-spsc', \
  '/work/main/bench/results/rate.png.dat' index 3 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'pmq-group1', \
  '/work/main/bench/results/rate.png.dat' index 4 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'pipe', \
  '/work/main/bench/results/rate.png.dat' index 5 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'unix', \
  '/work/main/bench/results/rate.png.dat' index 6 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'mq', \
  '/work/main/bench/results/rate.png.dat' index 7 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'zmq', \
  '/work/main/bench/results/rate.png.dat' index 8 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'iceoryx'
