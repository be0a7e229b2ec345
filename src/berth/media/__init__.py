"""Media on the way in and out: validating and decoding uploaded audio and images, encoding
generated audio and images."""
