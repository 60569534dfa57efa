import numpy as np
import pandas as pd
import streamlit as st

frame = pd.DataFrame({"x": np.arange(3)})
st.write(f"old-streamlit-unpinned ok {st.__version__} {int(frame.x.sum())}")
st.dataframe(frame)
