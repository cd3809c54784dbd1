# demos/plots/fp8_parity.gp - FP8 parity figures.
#   gnuplot -e "dir='results'; outdir='docs'" demos/plots/fp8_parity.gp
# docs/fp8_parity_loss.png: validation loss over training for every run, one panel per
#   parametrization (fp32 and the four FP8 variants).
# docs/fp8_parity_scales_<param>.png: for the run casting all hidden matmuls with SR, the RMS of
#   each cast tensor over training (inputs x, weights w, output gradients dy) and the fraction of
#   its elements that the cast flushes to zero.
if (!exists("dir")) dir = 'results'
if (!exists("outdir")) outdir = 'docs'
lcsv = dir.'/fp8_parity_loss.csv'
scsv = dir.'/fp8_parity_scales.csv'
params = system("awk -F, 'NR>1 && !seen[$1]++ {print $1}' ".lcsv)
np = words(params)
if (np < 1) exit
set datafile separator ","
set terminal pngcairo size 460*np+80,400 font ",10"
set termoption noenhanced
set output outdir.'/fp8_parity_loss.png'
set grid
set xlabel "step"
set ylabel "validation loss (nats/byte)"
set key top right font ",9"
set multiplot layout 1, np title "FP8 parity: fp32 against E4M3/E5M2 casts without scaling factors"
do for [p in params] {
    set title p
    plot for [c in "none:- all:rne all:sr umup:rne umup:sr"] \
        sprintf("< awk -F, -v p=%s -v f=%s -v r=%s 'NR>1 && $1==p && $2==f && (f==\"none\" || $3==r) {print $4\",\"$6}' %s", \
                p, substr(c, 1, strstrt(c, ":") - 1), substr(c, strstrt(c, ":") + 1, strlen(c)), lcsv) \
        using 1:2 with lines lw 1.5 title (c eq "none:-" ? "fp32" : "fp8 ".c)
}
unset multiplot
do for [p in params] {
    tensors = system(sprintf("awk -F, -v p=%s 'NR>1 && $1==p && $2==\"all\" && $3==\"sr\" && $8==1 && !seen[$5\" \"$6]++ {print $5\"|\"$6}' %s", p, scsv))
    if (words(tensors) > 0) {
        set terminal pngcairo size 1300,480 font ",9"
        set termoption noenhanced
        set output outdir.'/fp8_parity_scales_'.p.'.png'
        set multiplot layout 1, 2 title sprintf("%s, all hidden matmuls in FP8 (SR): the tensors the casts see", p)
        set logscale y
        set key outside right font ",7" spacing 0.8
        set title "RMS (E4M3 x, w: 2^-6 .. 448; E5M2 dy: 2^-14 .. 57344 normal range)"
        set ylabel "RMS"
        plot for [t in tensors] sprintf("< awk -F, -v p=%s -v n=%s -v k=%s 'NR>1 && $1==p && $2==\"all\" && $3==\"sr\" && $5==n && $6==k {print $4\",\"$9}' %s", \
             p, substr(t, 1, strstrt(t, "|") - 1), substr(t, strstrt(t, "|") + 1, strlen(t)), scsv) using 1:2 with linespoints pt 7 ps 0.4 title t
        unset logscale y
        set yrange [0:*]
        set title "fraction flushed to zero by the cast"
        set ylabel "fraction"
        unset key
        plot for [t in tensors] sprintf("< awk -F, -v p=%s -v n=%s -v k=%s 'NR>1 && $1==p && $2==\"all\" && $3==\"sr\" && $5==n && $6==k {print $4\",\"$11}' %s", \
             p, substr(t, 1, strstrt(t, "|") - 1), substr(t, strstrt(t, "|") + 1, strlen(t)), scsv) using 1:2 with linespoints pt 7 ps 0.4 title t
        unset multiplot
        set autoscale y
    }
}
