"""History: every capture stored in Milvus, searchable by picture, camera, time and attributes."""
