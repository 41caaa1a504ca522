import threading, time
threads = []
while True:
    t = threading.Thread(target=time.sleep, args=(600,))
    t.start()
    threads.append(t)
