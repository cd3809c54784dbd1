# demos/plots/coord_check.gp - coordinate-check figure for one parametrization, grouped by module type.
#   gnuplot -e "csv='results/coord_check.csv'; param='umup'; out='docs/coord_check_umup.png'" demos/plots/coord_check.gp
# Reads the CSV of demos/coord_check (param,width,step,module,layer,mean_abs,rms).
# One row of panels per module type (embedding, attention, MLP, residual stream, norm, logits; any
# other module under "other"), one column per step t; x = width (log2), y = mean |x| of the module's
# output before update t (log; one range per row, so the steps of a row compare directly).
# In a row, a module keeps its colour and point type and each layer has its own dash type
# (layer 0 solid, layer 1 dashed, ...); the legend at the right end of each row names every line.
if (!exists("csv")) csv = 'results/coord_check.csv'
if (!exists("param")) param = 'umup'
if (!exists("out")) out = 'docs/coord_check_'.param.'.png'

# the module type of each module name (awk)
cls = 'function cls(m) { if (m == "embedding") return "embedding"; if (m ~ /mhsa/) return "attention"; ' . \
      'if (m ~ /mlp\./) return "MLP"; if (m ~ /residual/) return "residual"; if (m ~ /norm/) return "norm"; ' . \
      'if (m == "projection" || m ~ /logits/) return "logits"; return "other" }'
awkp(prog) = system(sprintf("awk -F, -v p=%s '%s %s' %s", param, cls, prog, csv))

steps = awkp('NR>1 && $1==p && $3>m {m=$3} END {print m+0}') + 0
if (steps < 1) exit
types = awkp('NR>1 && $1==p {seen[cls($4)]=1} END {n=split("embedding attention MLP residual norm logits other", o, " "); for (i=1;i<=n;i++) if (o[i] in seen) printf "%s ", o[i]}')
nrows = words(types)
widths = awkp('NR>1 && $1==p && !s[$2]++ {print $2}')

# per type: its modules in file order, each one's colour/point index (its name without "layers.N.")
# and dash type (layer mod 5, plus 1; 1 outside the layers)
mods(ty) = awkp(sprintf('NR>1 && $1==p && cls($4)=="%s" && !s[$4]++ {printf "%%s ", $4}', ty))
cols(ty) = awkp(sprintf('NR>1 && $1==p && cls($4)=="%s" && !s[$4]++ {b=$4; sub(/^layers\.[0-9]+\./, "", b); if (!(b in c)) c[b]=++n; printf "%%d ", c[b]}', ty))
dts(ty) = awkp(sprintf('NR>1 && $1==p && cls($4)=="%s" && !s[$4]++ {printf "%%d ", ($5 < 0 ? 0 : $5) %% 5 + 1}', ty))
ylo(ty) = awkp(sprintf('NR>1 && $1==p && cls($4)=="%s" && $6>0 && (m=="" || $6<m) {m=$6} END {print m}', ty)) + 0
yhi(ty) = awkp(sprintf('NR>1 && $1==p && cls($4)=="%s" && $6>m {m=$6} END {print m}', ty)) + 0

# Okabe-Ito colours (distinguishable, also in colour-blind vision), filled point shapes, dash types
palette = "#0072B2 #D55E00 #009E73 #CC79A7 #E69F00 #56B4E9 #000000 #F0E442"
points = "7 5 9 13 11 15 3 1"
colour(i) = word(palette, (i - 1) % 8 + 1)
ptype(i) = word(points, (i - 1) % 8 + 1) + 0

# layout in pixels: panels pw x ph, gap between panels, the y labels on the left, legends on the right
pw = 250; ph = 190; gap = 16; left = 90; right = 250; top = 70; bottom = 50
W = left + steps * pw + (steps - 1) * gap + right
H = top + nrows * ph + (nrows - 1) * gap + bottom
set terminal pngcairo size W, H font ",10"
set termoption noenhanced
set output out
set datafile separator ","
set logscale x 2
set logscale y
# tick marks at the widths (labelled on the bottom row only), a margin of a third of a doubling at
# both ends; log y ticks at 1, 2, 5 x 10^k, and every row spans at least a factor of 20 so that a
# given growth looks the same in every row
wmin = awkp('NR>1 && $1==p && (m=="" || $2<m) {m=$2} END {print m}') + 0
wmax = awkp('NR>1 && $1==p && $2>m {m=$2} END {print m}') + 0
set xrange [wmin / 1.25 : wmax * 1.25]
xt_labelled = "("; xt_blank = "("
do for [w in widths] { xt_labelled = xt_labelled . sprintf('"%s" %s,', w, w); xt_blank = xt_blank . sprintf('"" %s,', w) }
xt_labelled = xt_labelled[1:strlen(xt_labelled) - 1] . ")"; xt_blank = xt_blank[1:strlen(xt_blank) - 1] . ")"
yt = "("
do for [k = -6:5] { yt = yt . sprintf("%g, %g, %g%s", 10.0**k, 2 * 10.0**k, 5 * 10.0**k, k < 5 ? ", " : ")") }
eval("set ytics " . yt . " font ',9'")
set mytics 1
set grid xtics ytics lc rgb "#dddddd"
set key font ",9" spacing 1.1 samplen 3 noautotitle
set multiplot title sprintf("coordinate check, %s: mean |x| of each module's output before update t, against width", param) font ",13"
do for [r = 1:nrows] {
    ty = word(types, r)
    ml = mods(ty); cl = cols(ty); dl = dts(ty)
    lo = ylo(ty) / 1.3; hi = yhi(ty) * 1.3
    if (hi / lo < 20) { c = sqrt(lo * hi); lo = c / sqrt(20); hi = c * sqrt(20) }
    set yrange [lo : hi]
    y1 = 1.0 - (top + (r - 1) * (ph + gap)) / (H * 1.0)
    y0 = y1 - ph / (H * 1.0)
    do for [t = 1:steps] {
        x0 = (left + (t - 1) * (pw + gap)) / (W * 1.0)
        set lmargin at screen x0
        set rmargin at screen x0 + pw / (W * 1.0)
        set tmargin at screen y1
        set bmargin at screen y0
        if (r == 1) { set title sprintf("t = %d", t) font ",11" } else { unset title }
        if (t == 1) { set ylabel ty . "\nmean |x|" font ",11"; set format y "%g" } else { unset ylabel; set format y "" }
        if (r == nrows) { set xlabel "width"; eval("set xtics " . xt_labelled . " font ',9'") } else { unset xlabel; eval("set xtics " . xt_blank) }
        if (t == steps) { set key at screen (x0 + (pw + 12) / (W * 1.0)), y1 left top Left reverse } else { unset key }
        dtype(i) = word(dl, i) + 0
        plot for [i = 1:words(ml)] sprintf("< awk -F, -v p=%s -v t=%d -v m=%s 'NR>1 && $1==p && $3==t && $4==m {print $2\",\"$6}' %s", \
                 param, t, word(ml, i), csv) using 1:2 with linespoints lw 1.6 ps 0.9 \
             lc rgb colour(word(cl, i) + 0) pt ptype(word(cl, i) + 0) dt dtype(i) title word(ml, i)
    }
}
unset multiplot
