# awk functions for the benchmark scripts that run every server in rounds
# (bench/http.sh, bench/tls.sh): their program text is prepended to the
# script's own.  A figure f is an array indexed (key, round); `rounds` is
# the number of rounds, set by the script.  Medians, not the best round:
# a best-of-rounds ratio would set one server's luckiest round against the
# other's, where a busy moment on a shared machine inflates both of a
# round's measurements, taken seconds apart, or is outvoted.

# The median of v[1..m] (sorts v).
function median(v, m,    i, j, t) {
    for (i = 2; i <= m; i++)
        for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
    return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
}

# The median over the rounds of figure f of key.
function over_rounds(f, key,    v, m, r) {
    m = 0
    for (r = 1; r <= rounds; r++)
        if ((key, r) in f) v[++m] = f[key, r]
    return median(v, m)
}

# The median of f[a] / f[b] over the rounds that measured both.
function ratio(f, a, b,    v, m, r) {
    m = 0
    for (r = 1; r <= rounds; r++)
        if ((a, r) in f && (b, r) in f) v[++m] = f[a, r] / f[b, r]
    return median(v, m)
}
