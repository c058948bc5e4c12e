"""Teaching and training: the video-on-demand library (uploads transcoded to an HLS
ladder in the background, a searchable catalogue, playback with progress)."""
