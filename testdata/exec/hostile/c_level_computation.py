output = str(10**10**7)
