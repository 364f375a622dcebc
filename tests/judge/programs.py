"""Programs of one problem for the performance tests and the benchmark: count the inversions
of a list (pairs i < j with a[i] > a[j]). Input: n, then n integers on one line."""

from __future__ import annotations

import bisect
import random

#: O(n^2): every pair.
QUADRATIC = """\
n = int(input())
a = list(map(int, input().split()))
count = 0
for i in range(n):
    x = a[i]
    for j in range(i + 1, n):
        if x > a[j]:
            count += 1
print(count)
"""

#: O(n log n): a Fenwick tree over the ranks (the reference of the tests).
FENWICK = """\
import sys


def main():
    n = int(sys.stdin.readline())
    a = list(map(int, sys.stdin.readline().split()))
    rank = {v: i + 1 for i, v in enumerate(sorted(set(a)))}
    tree = [0] * (len(rank) + 1)
    count = 0
    for seen, v in enumerate(a):
        i, below = rank[v], 0
        while i > 0:
            below += tree[i]
            i -= i & -i
        count += seen - below
        i = rank[v]
        while i < len(tree):
            tree[i] += 1
            i += i & -i
    print(count)


main()
"""

#: O(n log n): merge sort, counting as it merges.
MERGE_SORT = """\
import sys


def sort_count(a):
    if len(a) < 2:
        return a, 0
    mid = len(a) // 2
    left, x = sort_count(a[:mid])
    right, y = sort_count(a[mid:])
    merged, i, j, count = [], 0, 0, x + y
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
            count += len(left) - i
    merged += left[i:]
    merged += right[j:]
    return merged, count


n = int(sys.stdin.readline())
print(sort_count(list(map(int, sys.stdin.readline().split())))[1])
"""

#: MERGE_SORT that also fills 48 MiB it never needs (written, so the memory is charged).
MEMORY_HUNGRY = MERGE_SORT + "ballast = b'x' * (48 << 20)\n"

#: Off by one.
WRONG = MERGE_SORT.replace("print(sort_count(", "print(1 + sort_count(")

#: O(n log n) in C: merge sort (a reference in another language).
C_MERGE_SORT = """\
#include <stdio.h>
#include <stdlib.h>

static long long sort_count(long long *a, long long *tmp, int n) {
    if (n < 2) return 0;
    int mid = n / 2;
    long long count = sort_count(a, tmp, mid) + sort_count(a + mid, tmp, n - mid);
    int i = 0, j = mid, k = 0;
    while (i < mid && j < n) {
        if (a[i] <= a[j]) tmp[k++] = a[i++];
        else { tmp[k++] = a[j++]; count += mid - i; }
    }
    while (i < mid) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    for (k = 0; k < n; k++) a[k] = tmp[k];
    return count;
}

int main(void) {
    int n;
    if (scanf("%d", &n) != 1) return 1;
    long long *a = malloc(sizeof *a * n), *tmp = malloc(sizeof *tmp * n);
    for (int i = 0; i < n; i++) if (scanf("%lld", &a[i]) != 1) return 1;
    printf("%lld\\n", sort_count(a, tmp, n));
    return 0;
}
"""


def numbers(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(10**9) for _ in range(n)]


def stdin(n: int, seed: int) -> str:
    return f"{n}\n{' '.join(map(str, numbers(n, seed)))}\n"


def inversions(n: int, seed: int) -> int:
    seen: list[int] = []
    count = 0
    for x in reversed(numbers(n, seed)):
        count += bisect.bisect_left(seen, x)
        bisect.insort(seen, x)
    return count


def case(n: int, seed: int) -> dict[str, str]:
    """A test case of the problem, as a request gives it."""
    return {"stdin": stdin(n, seed), "expected_stdout": f"{inversions(n, seed)}\n"}
