"""Real footage for the detector and the pipeline: twelve frames (100-111) of PETS09-S2L1, the video
OpenCV ships as `vtest.avi` (Debian's opencv-doc), re-encoded to MPEG-4 part 2 at 768x576, 10 fps:
`data/vtest-100-111.mp4`, 165 KB."""

from __future__ import annotations

from pathlib import Path

from service.media.decode import MediaLimits

CLIP = Path(__file__).parent / "data" / "vtest-100-111.mp4"
MEDIA = MediaLimits(max_bytes=64 << 20, max_frames=1000, max_frame_pixels=1920 * 1080, max_archive_members=10)
