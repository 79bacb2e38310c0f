package topology

import (
	"cmp"
	"fmt"
	"slices"
)

// cycles reports each cycle once: one Problem per strongly connected set of
// nodes with an edge back into itself, named by the shortest cycle through
// its member given first.
func (g *graph) cycles() []Problem {
	succ := g.successors()
	var problems []Problem
	for _, scc := range g.stronglyConnected(succ) {
		if len(scc) == 1 && !slices.Contains(succ[scc[0]], scc[0]) {
			continue
		}
		start := slices.Min(scc)
		path := shortestCycle(succ, start, scc)
		names := make([]string, len(path))
		for i, n := range path {
			names[i] = g.nodes[n].Name
		}
		problems = append(problems, Problem{Rule: Cycle, Node: names[0], Kind: g.nodes[start].Kind, Input: -1, Path: names})
	}
	return problems
}

// shortestCycle returns start → … → start inside scc, breadth-first with
// successors in the order given, so the path is short and the same on
// every run.
func shortestCycle(succ [][]int, start int, scc []int) []int {
	prev := map[int]int{}
	queue := []int{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, to := range succ[n] {
			if !slices.Contains(scc, to) {
				continue
			}
			if to == start {
				path := []int{start}
				for at := n; at != start; at = prev[at] {
					path = append(path, at)
				}
				path = append(path, start)
				slices.Reverse(path)
				return path
			}
			if _, seen := prev[to]; !seen {
				prev[to] = n
				queue = append(queue, to)
			}
		}
	}
	// Unreachable: every member of a strongly connected set with an edge
	// into itself lies on a cycle.
	panic(fmt.Sprintf("topology: no cycle through node %d", start))
}

// stronglyConnected is Tarjan's algorithm started from the nodes in the
// order given; the sets come sorted by their first member.
func (g *graph) stronglyConnected(succ [][]int) [][]int {
	var (
		next    int
		index   = make([]int, len(g.nodes))
		low     = make([]int, len(g.nodes))
		onStack = make([]bool, len(g.nodes))
		stack   []int
		out     [][]int
	)
	for i := range index {
		index[i] = -1
	}
	var visit func(n int)
	visit = func(n int) {
		index[n], low[n] = next, next
		next++
		stack = append(stack, n)
		onStack[n] = true
		for _, to := range succ[n] {
			if index[to] < 0 {
				visit(to)
				low[n] = min(low[n], low[to])
			} else if onStack[to] {
				low[n] = min(low[n], index[to])
			}
		}
		if low[n] != index[n] {
			return
		}
		var scc []int
		for {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[top] = false
			scc = append(scc, top)
			if top == n {
				break
			}
		}
		out = append(out, scc)
	}
	for i := range g.nodes {
		if index[i] < 0 && g.live(i) {
			visit(i)
		}
	}
	slices.SortFunc(out, func(a, b []int) int { return cmp.Compare(slices.Min(a), slices.Min(b)) })
	return out
}
