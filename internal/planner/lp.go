package planner

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// lpRow is Σ val[i]·x[idx[i]] (≤ or =) rhs.
type lpRow struct {
	idx []int
	val []float64
	rhs float64
}

// lpModel is min cᵀx over x ≥ 0 subject to its rows.
type lpModel struct {
	c        []float64
	le, eq   []lpRow
	variable int
}

func (m *lpModel) newVar(cost float64) int {
	m.c = append(m.c, cost)
	m.variable++
	return m.variable - 1
}

func (m *lpModel) addLE(r lpRow) { m.le = append(m.le, r) }
func (m *lpModel) addEQ(r lpRow) { m.eq = append(m.eq, r) }

// errLPInfeasible: no x meets the rows.
var errLPInfeasible = errors.New("linear program infeasible")

// solve runs gonum's simplex on the standard form [G I; A 0]·[x; s] = [h; b]
// (a slack per ≤ row). Every variable must appear in a row and the = rows
// must be independent: the ilp builds them so.
func (m *lpModel) solve() (float64, []float64, error) {
	n, rows := len(m.c), len(m.le)+len(m.eq)
	cols := n + len(m.le)
	a := mat.NewDense(rows, cols, nil)
	b := make([]float64, rows)
	for i, r := range m.le {
		for j, k := range r.idx {
			a.Set(i, k, a.At(i, k)+r.val[j])
		}
		a.Set(i, n+i, 1)
		b[i] = r.rhs
	}
	for i, r := range m.eq {
		row := len(m.le) + i
		for j, k := range r.idx {
			a.Set(row, k, a.At(row, k)+r.val[j])
		}
		b[row] = r.rhs
	}
	c := make([]float64, cols)
	copy(c, m.c)
	opt, x, err := lp.Simplex(c, a, b, 1e-10, nil)
	switch {
	case errors.Is(err, lp.ErrInfeasible):
		return 0, nil, errLPInfeasible
	case err != nil:
		return 0, nil, fmt.Errorf("simplex: %w", err)
	}
	return opt, x[:n], nil
}
