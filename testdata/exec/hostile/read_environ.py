import os
output = dict(os.environ)
