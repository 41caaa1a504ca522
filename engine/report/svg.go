package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// The charts are plain inline SVG built here: horizontal bars, histograms,
// a line chart and the DAG. They need no script and no font beyond the
// page's own, so the report opens anywhere without a network.

const (
	colOut    = "#2f7d4f"
	colReject = "#c4453c"
	colBar    = "#3b6ea8"
	colMuted  = "#888"
)

func esc(s string) string { return html.EscapeString(s) }

// funnelSVG draws one row per step: rows out (green) and rejected (red)
// stacked, on a scale of the largest rows in.
func funnelSVG(steps []*Step) template.HTML {
	const rowH, labelW, barW, numW = 22, 230, 420, 190
	var maxIn int64 = 1
	for _, s := range steps {
		maxIn = max(maxIn, s.RowsIn, s.RowsOut+s.Rejected)
	}
	h := rowH*len(steps) + 26
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="funnel" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, labelW+barW+numW, h, labelW+barW+numW, h)
	fmt.Fprintf(&b, `<text x="%d" y="14" class="axis">rows out</text><rect x="%d" y="5" width="10" height="10" fill="%s"/>`, labelW+16, labelW+2, colOut)
	fmt.Fprintf(&b, `<text x="%d" y="14" class="axis">rejected</text><rect x="%d" y="5" width="10" height="10" fill="%s"/>`, labelW+106, labelW+92, colReject)
	for i, s := range steps {
		y := 22 + i*rowH
		out := float64(s.RowsOut) / float64(maxIn) * barW
		rej := float64(s.Rejected) / float64(maxIn) * barW
		fmt.Fprintf(&b, `<g class="frow" data-step="%s"><title>%s (%s): %d in, %d out, %d rejected</title>`, esc(s.Name), esc(s.Name), esc(s.Op), s.RowsIn, s.RowsOut, s.Rejected)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`, labelW-6, y+14, esc(clip(s.Name, 30)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y+3, out, rowH-6, colOut)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW+out, y+3, rej, rowH-6, colReject)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="num">%s → %s</text></g>`, labelW+barW+8, y+14, num(s.RowsIn), num(s.RowsOut))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barsSVG draws labelled horizontal bars.
func barsSVG(label string, names []string, values []float64, unit func(float64) string) template.HTML {
	const rowH, labelW, barW, numW = 20, 200, 360, 120
	maxV := 0.0
	for _, v := range values {
		maxV = math.Max(maxV, v)
	}
	if maxV == 0 {
		maxV = 1
	}
	h := rowH * len(names)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, esc(label), labelW+barW+numW, h, labelW+barW+numW, h)
	for i, n := range names {
		y := i * rowH
		w := values[i] / maxV * barW
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`, labelW-6, y+14, esc(clip(n, 28)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y+3, w, rowH-6, colBar)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="num">%s</text>`, float64(labelW)+w+6, y+14, esc(unit(values[i])))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// histSVG draws a histogram of bins.
func histSVG(label string, bins []Bin, xfmt func(float64) string) template.HTML {
	const W, H, pad = 520, 150, 30
	maxN := 1
	for _, b := range bins {
		maxN = max(maxN, b.N)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, esc(label), W, H, W, H)
	if len(bins) == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	bw := float64(W-2*pad) / float64(len(bins))
	for i, bin := range bins {
		hh := float64(bin.N) / float64(maxN) * float64(H-2*pad)
		x := float64(pad) + float64(i)*bw
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s–%s: %d</title></rect>`, x+1, float64(H-pad)-hh, bw-2, hh, colBar, esc(xfmt(bin.Lo)), esc(xfmt(bin.Hi)), bin.N)
		if bin.N > 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" class="num">%d</text>`, x+bw/2, float64(H-pad)-hh-3, bin.N)
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">%s</text>`, pad, H-10, esc(xfmt(bins[0].Lo)))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="axis">%s</text>`, W-pad, H-10, esc(xfmt(bins[len(bins)-1].Hi)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// lineSVG draws y over x (seconds since the start).
func lineSVG(label string, xs, ys []float64) template.HTML {
	const W, H, pad = 520, 140, 34
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, esc(label), W, H, W, H)
	if len(xs) == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	maxX, maxY := xs[len(xs)-1], 1.0
	for _, y := range ys {
		maxY = math.Max(maxY, y)
	}
	maxX = math.Max(maxX, 1e-9)
	var pts []string
	for i := range xs {
		x := pad + xs[i]/maxX*float64(W-2*pad)
		y := float64(H-pad) - ys[i]/maxY*float64(H-2*pad)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, pad, H-pad, W-pad, H-pad, colMuted)
	fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, colBar, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">0 s</text><text x="%d" y="%d" text-anchor="end" class="axis">%s</text>`, pad, H-12, W-pad, H-12, esc(dur(maxX)))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="axis">%g</text>`, pad-4, pad+4, maxY)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// dagSVG lays the steps out in layers by depth, top to bottom.
func dagSVG(steps []*Step) template.HTML {
	const boxW, boxH, gapX, gapY = 168, 34, 14, 30
	layers := map[int][]*Step{}
	maxD := 0
	for _, s := range steps {
		layers[s.Depth] = append(layers[s.Depth], s)
		maxD = max(maxD, s.Depth)
	}
	widest := 1
	for _, l := range layers {
		widest = max(widest, len(l))
	}
	W := widest*(boxW+gapX) + gapX
	H := (maxD+1)*(boxH+gapY) + gapY
	type pos struct{ x, y float64 }
	at := map[string]pos{}
	for d := 0; d <= maxD; d++ {
		l := layers[d]
		off := float64(W-len(l)*(boxW+gapX)+gapX) / 2
		for i, s := range l {
			at[s.Name] = pos{off + float64(i*(boxW+gapX)), float64(gapY + d*(boxH+gapY))}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart dag" role="img" aria-label="DAG" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, W, H, W, H)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>`)
	for _, s := range steps {
		to := at[s.Name]
		for _, in := range s.Inputs {
			from, ok := at[in]
			if !ok {
				continue
			}
			x1, y1 := from.x+boxW/2, from.y+boxH
			x2, y2 := to.x+boxW/2, to.y
			fmt.Fprintf(&b, `<path d="M %.1f %.1f C %.1f %.1f, %.1f %.1f, %.1f %.1f" fill="none" stroke="#999" marker-end="url(#arrow)"/>`, x1, y1, x1, y1+gapY/2, x2, y2-gapY/2, x2, y2)
		}
	}
	for _, s := range steps {
		p := at[s.Name]
		fill := "#eef3fa"
		if s.Rejected > 0 {
			fill = "#fbeeee"
		}
		fmt.Fprintf(&b, `<g class="node" data-step="%s"><title>%s (%s): %d in, %d out, %d rejected</title>`, esc(s.Name), esc(s.Name), esc(s.Op), s.RowsIn, s.RowsOut, s.Rejected)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%d" height="%d" rx="5" fill="%s" stroke="#6a7f99"/>`, p.x, p.y, boxW, boxH, fill)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" class="lbl">%s</text>`, p.x+boxW/2, p.y+14, esc(clip(s.Name, 24)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" class="axis">%s · %s→%s</text></g>`, p.x+boxW/2, p.y+28, esc(s.Op), num(s.RowsIn), num(s.RowsOut))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// num formats a count with thousands separators.
func num(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// dur formats seconds for people.
func dur(s float64) string {
	switch {
	case math.IsNaN(s):
		return "–"
	case s < 1e-3:
		return fmt.Sprintf("%.0f µs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1e3)
	case s < 120:
		return fmt.Sprintf("%.1f s", s)
	case s < 7200:
		return fmt.Sprintf("%.1f min", s/60)
	}
	return fmt.Sprintf("%.1f h", s/3600)
}
