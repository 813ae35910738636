"""Backbones from keras.applications and the ImageClassifier built on them."""
