import sys
sys.setrecursionlimit(10**8)
nested = []
for _ in range(2 * 10**5):
    nested = [nested]
output = repr(nested)
