"""Everything a lecture needs, as files: pictures of a hop (SVG/PNG, rendered by plotly's own image export,
kaleido), an animation of a flow (GIF/MP4), a Markdown handout of a lesson, and the standalone lesson player
(one HTML file). Core: no dash."""
