# An int subclass that hides its size from abs(), str() and repr(): the
# digit rule must count the serialised value instead.
class Small(int):
    def __abs__(self):
        return 0
    def __repr__(self):
        return "1"
    def __str__(self):
        return "1"
    def bit_length(self):
        return 1
output = Small(10 ** 20000)
