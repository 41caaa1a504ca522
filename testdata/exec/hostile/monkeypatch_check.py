import math, json
from fractions import Fraction
print("visible")
output = [math.sqrt(16), math.pi > 3.14, len([1, 2, 3]), json.dumps([1]), str(Fraction(1, 2))]
