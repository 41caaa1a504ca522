import math, builtins, json, sys
math.sqrt = lambda x: -1
math.pi = 3
builtins.len = lambda x: -1
builtins.print = None
json.dumps = None
sys.modules["fractions"] = None
output = math.sqrt(16)
