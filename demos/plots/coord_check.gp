# demos/plots/coord_check.gp - coordinate check figure for one parametrization.
#   gnuplot -e "csv='results/coord_check.csv'; param='umup'; out='docs/coord_check_umup.png'" demos/plots/coord_check.gp
# One panel per step t; x = width (log2), y = mean |x| of a module's output (log); one line per module.
if (!exists("csv")) csv = 'results/coord_check.csv'
if (!exists("param")) param = 'umup'
if (!exists("out")) out = 'docs/coord_check_'.param.'.png'
modules = system("awk -F, -v p=".param." 'NR>1 && $1==p && !seen[$4]++ {print $4}' ".csv)
steps = system("awk -F, -v p=".param." 'NR>1 && $1==p && $3>m {m=$3} END {print m+0}' ".csv) + 0
if (steps < 1) exit
set terminal pngcairo size 360*steps+200,460 font ",9"
set termoption noenhanced
set output out
ymin = system("awk -F, -v p=".param." 'NR>1 && $1==p && $6>0 && (m==\"\" || $6<m) {m=$6} END {print m}' ".csv) + 0
ymax = system("awk -F, -v p=".param." 'NR>1 && $1==p && $6>m {m=$6} END {print m}' ".csv) + 0
set yrange [ymin / 1.5 : ymax * 1.5]
set datafile separator ","
set logscale x 2
set logscale y
set xlabel "width"
set grid
set key outside right font ",7" spacing 0.8
set multiplot layout 1, steps title sprintf("coordinate check: %s (mean |x| of each module output before update t)", param)
do for [t = 1:steps] {
    set title sprintf("t = %d", t)
    if (t < steps) { unset key } else { set key }
    plot for [m in modules] sprintf("< awk -F, -v p=%s -v t=%d -v m=%s 'NR>1 && $1==p && $3==t && $4==m {print $2\",\"$6}' %s", param, t, m, csv) \
        using 1:2 with linespoints pt 7 ps 0.5 title m
}
unset multiplot
