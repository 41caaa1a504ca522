import numpy as np
a = np.ones((200000, 200000))
output = float(a.sum())
