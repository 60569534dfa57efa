import time

print("thinking forever, never listening", flush=True)
while True:
    time.sleep(1)
